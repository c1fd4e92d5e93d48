# Build the Windows installer. NOT TESTED on this project's Linux machines; run on Windows
# with Python 3.11 (python.org build) and Inno Setup 6 (ISCC.exe on PATH):
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
# Same rule as Linux: a venv of its own with only the runtime dependencies + PyInstaller.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

$venv = "build\pkg-venv-win"
if (-not (Test-Path "$venv\Scripts\python.exe")) {
    py -3.11 -m venv $venv
}
& "$venv\Scripts\python.exe" -m pip install -q --upgrade pip
& "$venv\Scripts\python.exe" packaging\runtime_requirements.py | Out-File -Encoding ascii build\pkg-requirements.txt
Add-Content build\pkg-requirements.txt "pyinstaller>=6.10,<7"
& "$venv\Scripts\python.exe" -m pip install -q -r build\pkg-requirements.txt
& "$venv\Scripts\python.exe" packaging\runtime_requirements.py --check-venv
if ($LASTEXITCODE -ne 0) { throw "the build venv holds packages that must never be bundled" }

& "$venv\Scripts\pyinstaller.exe" --noconfirm --clean --log-level WARN `
    --distpath dist --workpath build\pyinstaller packaging\cockpit.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# The console build must start and render before it is wrapped (offscreen: no desktop on CI).
$env:QT_QPA_PLATFORM = "offscreen"
& dist\cockpit\cockpit.exe app --smoke-test
if ($LASTEXITCODE -ne 0) { throw "the frozen app failed its smoke test" }
Remove-Item Env:\QT_QPA_PLATFORM

$version = (& "$venv\Scripts\python.exe" -c "import sys; sys.path.insert(0, 'packaging'); import bundle_rules, pathlib; print(bundle_rules.version(pathlib.Path('.')))").Trim()
ISCC.exe "/DAppVersion=$version" packaging\windows\cockpit.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Get-ChildItem dist\*.exe
