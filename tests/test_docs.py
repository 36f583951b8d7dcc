"""The user-facing documentation: sources a user can follow, and the docs site builds."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PRIVATE_SOURCES = re.compile(r"shared/seeds|\bseeds\b", re.IGNORECASE)


def _user_facing_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder in (ROOT / "airflow_import_status", ROOT / "docs"):
        files += [
            path
            for path in folder.rglob("*")
            if path.is_file() and "_build" not in path.parts and path.suffix in {".py", ".md", ".wsdl", ".html", ".js"}
        ]
    return files


def test_no_user_facing_file_points_at_a_folder_users_do_not_have() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _user_facing_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _PRIVATE_SOURCES.search(line)
    ]
    assert len(_user_facing_files()) > 50
    assert offenders == []
