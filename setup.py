"""Build step the pyproject metadata cannot express: the gettext catalogues (imsprep/locale/*/
LC_MESSAGES/imsprep.po) are compiled to .mo files with Babel into every wheel (and so into the
.deb, which pybuild builds from this). Babel is needed to build, never to run imsprep."""

import os

from setuptools import setup
from setuptools.command.build_py import build_py


def compile_catalogs(source_dir, target_dir):
    """Every <lang>/LC_MESSAGES/*.po under source_dir, compiled to a .mo at the same place under
    target_dir (Babel's compile, as `pybabel compile` does); fuzzy entries are left out."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for dirpath, _, filenames in os.walk(source_dir):
        for name in sorted(filenames):
            if not name.endswith(".po"):
                continue
            po_path = os.path.join(dirpath, name)
            with open(po_path, "rb") as fh:
                catalog = read_po(fh)
            out_dir = os.path.join(target_dir, os.path.relpath(dirpath, source_dir))
            os.makedirs(out_dir, exist_ok=True)
            mo_path = os.path.join(out_dir, name[:-3] + ".mo")
            with open(mo_path, "wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
            written.append(mo_path)
    if not written:
        raise SystemExit("no gettext catalogue (*.po) under %s" % source_dir)
    return written


class BuildPyWithCatalogs(build_py):
    def run(self):
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        for path in compile_catalogs(os.path.join(here, "imsprep", "locale"), os.path.join(self.build_lib, "imsprep", "locale")):
            self.announce("compiled %s" % path, level=2)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
