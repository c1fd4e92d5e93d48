; Inno Setup script for Cockpit on Windows. NOT TESTED on the Linux machines this project is
; built on: written to the same layout as the Linux .deb, to be checked on a Windows host.
;
;   packaging\windows\build.ps1      (builds dist\cockpit with PyInstaller, then runs ISCC)
;
; Installs the onedir bundle under Program Files\Cockpit, a Start-menu shortcut to
; cockpitw.exe (the same program without a console window), optionally a desktop shortcut,
; and puts the folder on the user's PATH so `cockpit` works in a terminal.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{5E2C3A9B-7C41-4F0B-9D6A-C0C4B17A11E5}
AppName=Cockpit
AppVersion={#AppVersion}
AppPublisher=Cockpit developers
DefaultDirName={autopf}\Cockpit
DefaultGroupName=Cockpit
DisableProgramGroupPage=yes
OutputDir=..\..\dist
OutputBaseFilename=cockpit-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\cockpit.ico
UninstallDisplayIcon={app}\cockpitw.exe
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
ChangesEnvironment=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add Cockpit to PATH (the cockpit command in terminals)"; GroupDescription: "Command line:"

[Files]
Source: "..\..\dist\cockpit\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Cockpit"; Filename: "{app}\cockpitw.exe"; Parameters: "app"; IconFilename: "{app}\cockpitw.exe"
Name: "{group}\Cockpit demo"; Filename: "{app}\cockpitw.exe"; Parameters: "demo"
Name: "{autodesktop}\Cockpit"; Filename: "{app}\cockpitw.exe"; Parameters: "app"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "{code:EnvKey}"; ValueType: expandsz; ValueName: "Path"; \
    ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\cockpitw.exe"; Parameters: "demo"; Description: "Open the Cockpit demo"; Flags: nowait postinstall skipifsilent

[Code]
function EnvKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function NeedsAddPath(Dir: String): Boolean;
var
  Paths: String;
  RootKey: Integer;
begin
  if IsAdminInstallMode then RootKey := HKEY_LOCAL_MACHINE else RootKey := HKEY_CURRENT_USER;
  if not RegQueryStringValue(RootKey, EnvKey(''), 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;
