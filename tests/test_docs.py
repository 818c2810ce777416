"""The documentation site's generators (docs/_ext), checked without a build (``make docs`` builds it in CI with
warnings as errors): every public name gets a page, and the gallery's commands are commands the CLI accepts."""
import importlib
import inspect
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
import apigen  # noqa: E402
import gallery  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    aliases = apigen.write_pages(out)
    documented = {f"{m}.{n}" for p in apigen.PACKAGES for m in apigen.public_modules(p)
                  for n, _ in apigen.module_names(m)}
    return out, aliases, documented


def test_every_exported_name_has_one_page(pages):
    """A name in any public module's ``__all__`` is documented where it is defined or sends its readers there."""
    _, aliases, documented = pages
    lost = []
    modules = {m for p in apigen.PACKAGES for m in apigen.public_modules(p)}
    for package in apigen.PACKAGES:
        for modname in apigen.public_modules(package):
            mod = importlib.import_module(modname)
            for name in getattr(mod, "__all__", []):
                full = f"{modname}.{name}"
                if inspect.ismodule(getattr(mod, name)):          # a submodule has its own section
                    if getattr(mod, name).__name__ not in modules:
                        lost.append(full)
                elif full not in documented and aliases.get(full) not in documented:
                    lost.append(full)
    assert not lost, f"exported but without an API page: {lost}"
    for must in ("rmt.manifold.LinearManifold", "trained.jacobian.engine.jacobian_spectrum",
                 "trained.descriptors.local_scaling", "simulate.ridge.project_to_ridge", "specgap.sweep.engine.run_sweep",
                 "trained.adapters.from_diffusers", "rmt.testing.strategies.profiles"):
        assert must in documented
    assert aliases["rmt.LinearManifold"] == "rmt.manifold.LinearManifold"


def test_one_page_per_package_and_no_private_module(pages):
    out, _, _ = pages
    written = sorted(p.name for p in (out / "api").glob("*.rst"))
    assert written == sorted([f"{p}.rst" for p in apigen.PACKAGES] + ["index.rst"])
    text = "".join((out / "api" / f"{p}.rst").read_text() for p in apigen.PACKAGES)
    assert ".. automodule:: trained._cloud" not in text and "automodule:: specgap.commands" not in text


def test_an_undocumented_public_constant_stops_the_build(tmp_path, monkeypatch):
    mod = tmp_path / "sgdoc_probe.py"
    mod.write_text('__all__ = ["A", "B"]\n\n#: documented\nA = 1\nB = 2\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="sgdoc_probe.B is public but has no '#:' comment"):
        apigen.module_names("sgdoc_probe")


def test_the_gallery_has_every_notebook_and_commands_the_cli_accepts(tmp_path):
    from specgap.cli import build_parser
    parser = build_parser()
    for stem, command in gallery.COMMANDS.items():
        words = command.split()
        assert words[0] == "specgap" and "--quick" in words
        args = parser.parse_args(words[1:])                # argparse exits 2 on a command it does not know
        assert args.quick is True
    gallery.write_gallery(tmp_path, ROOT / "notebooks")
    index = (tmp_path / "gallery" / "index.md").read_text()
    for stem in gallery.COMMANDS:
        assert (tmp_path / "gallery" / "thumbs" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({stem}.ipynb)" in index and gallery.COMMANDS[stem] in index
    copied = (tmp_path / "gallery" / "fig2.ipynb").read_text()
    assert "](../docs/" not in copied                       # links rewritten for the docs tree
