"""The import contracts in pyproject.toml hold on the code, and break when an import crosses them: run on a
copy of the package with one forbidden import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(tree)}  # the copy's `app`, not the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold(copy: Path) -> None:
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("rating/service.py", "from app.catalog.repository import VariantRepository", "use catalog only through"),
        ("catalog/repository.py", "from app.catalog.service import VariantService", "imports point down"),
        ("stats/intervals.py", "import sqlalchemy", "pure packages import no domain"),
        ("pipelines/rag.py", "from app.knowledge.service import KnowledgeService", "pure packages import no domain"),
        ("core/web.py", "from app.rating.service import RatingService", "core knows no domain"),
        ("leaderboard/service.py", "from app.main import create_app", "Nothing imports app.main"),
        ("experiments/judging.py", "from app.providers.registry import ProviderRegistry", "goes through the gateway"),
        ("finetune/hosted.py", "import httpx", "goes through the gateway"),
    ],
)
def test_a_crossing_import_breaks_a_contract(copy: Path, module: str, line: str, contract: str) -> None:
    target = copy / "app" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in " ".join(broken.split()), result.stdout
