"""``allocator cache prepare | info | clear`` on a temporary cache folder."""

from __future__ import annotations

from click.testing import CliRunner

from service.cli.main import main


def test_cache_prepare_info_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(tmp_path))
    runner = CliRunner()
    prepared = runner.invoke(main, ["cache", "prepare"])
    assert prepared.exit_code == 0, prepared.output
    assert "context, state, catchments" in prepared.output
    written = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.npz"))
    assert {"context", "state", "catchments", "names", "codes"} <= set(written)

    info = runner.invoke(main, ["cache", "info"])
    assert info.exit_code == 0 and str(tmp_path) in info.output
    assert all(name in info.output for name in written)

    cleared = runner.invoke(main, ["cache", "clear"])
    assert cleared.exit_code == 0
    assert f"{len(written)} fichiers supprimés" in cleared.output
    assert not list(tmp_path.glob("*.npz"))


def test_cache_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", "off")
    result = CliRunner().invoke(main, ["cache", "prepare"])
    assert result.exit_code == 0 and "désactivé" in result.output
    assert CliRunner().invoke(main, ["cache", "info"]).output.startswith("cache désactivé")
