"""The user-facing documentation: sources a user can follow, and the docs site builds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def _internal_links(html_dir: Path) -> list[tuple[Path, str, str]]:
    """Every link from a page to a page of the site: (page, target file, anchor or "")."""
    links = []
    for page in html_dir.rglob("*.html"):
        for href in re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", href) or href.startswith("_sources/") or "/_sources/" in href:
                continue
            target, _, anchor = href.partition("#")
            target = target.partition("?")[0]
            links.append((page, target, anchor))
    return links


def _broken_links(html_dir: Path) -> list[str]:
    broken = []
    for page, target, anchor in _internal_links(html_dir):
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{page.relative_to(html_dir)} -> {target}")
        elif anchor and path.suffix == ".html" and f'id="{anchor}"' not in path.read_text(encoding="utf-8"):
            broken.append(f"{page.relative_to(html_dir)} -> {target}#{anchor}")
    return broken


@pytest.mark.slow  # 10 s idle, 40 s on a loaded machine
def test_the_docs_site_builds_with_warnings_as_errors_and_every_internal_link_resolves(tmp_path: Path) -> None:
    html = tmp_path / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(html)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow_home")},
    )
    assert build.returncode == 0, build.stderr[-4000:]
    pages = {path.relative_to(html).as_posix() for path in html.rglob("*.html")}
    assert {"index.html", "installation.html", "api.html", "vendors/which50.html", "changelog.html"} <= pages
    # the API reference is rendered from the docstrings, not shown as text
    assert 'id="airflow_import_status.sensors.which50.Which50ImportSensor"' in (html / "api.html").read_text()
    # the code samples come from example_dags/ (one source)
    assert "Which50ImportOperator" in (html / "operators.html").read_text()
    links = _internal_links(html)
    assert len(links) > 100
    assert _broken_links(html) == []


def test_the_link_check_finds_a_broken_page_and_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="b.html#top">b</a><a href="#nowhere">x</a>')
    (tmp_path / "b.html").write_text('<a href="c.html">c</a><a href="a.html#top">a</a><a href="https://x.org/">x</a>')
    assert sorted(_broken_links(tmp_path)) == ["a.html -> #nowhere", "a.html -> b.html#top", "b.html -> c.html"]
