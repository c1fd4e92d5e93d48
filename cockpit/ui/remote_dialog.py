"""File ▸ Add Remote Folder…: a folder on an SSH host or a prefix in a bucket, by URL."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

HINT = ("ssh://[user@]host[:port]/absolute/path — the host may be an alias from your "
        "~/.ssh/config; your keys, agent, ProxyJump and known_hosts are used as by `ssh`.\n"
        "s3://bucket/prefix, gs://bucket/prefix, az://container/prefix — credentials from "
        "each cloud's usual environment and config files.")


class RemoteFolderDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, text: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("remoteFolderDialog")
        self.setWindowTitle("Add Remote Folder")
        self.url = QLineEdit(text)
        self.url.setObjectName("remoteUrl")
        self.url.setPlaceholderText("ssh://gpu1/home/me/runs")
        self.url.setMinimumWidth(480)
        hint = QLabel(HINT)
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Watch the runs under:"))
        layout.addWidget(self.url)
        layout.addWidget(hint)
        layout.addWidget(buttons)

    def value(self) -> str:
        return self.url.text().strip()
