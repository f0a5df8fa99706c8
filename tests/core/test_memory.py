import pytest


def test_numpy_gets_no_huge_pages_unless_the_environment_asks_for_them(monkeypatch):
    from trainlab.core.memory import no_huge_pages

    multiarray = pytest.importorskip("numpy._core.multiarray")
    was = multiarray._set_madvise_hugepage(True)  # returns the setting it replaces
    try:
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        no_huge_pages()
        assert multiarray._set_madvise_hugepage(True) is True  # the environment's choice kept
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
        no_huge_pages()
        assert multiarray._set_madvise_hugepage(False) is False
    finally:
        multiarray._set_madvise_hugepage(was)


def test_importing_trainlab_core_turns_them_off(monkeypatch):
    import subprocess
    import sys

    pytest.importorskip("numpy._core.multiarray")
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    code = ("import trainlab.core; from numpy._core import multiarray; "
            "print(multiarray._set_madvise_hugepage(True))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
