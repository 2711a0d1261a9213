#!/usr/bin/env python3
"""Build imsprep.pyz: one file for servers where no package may be installed.

    python3 tools/build_pyz.py [-o imsprep.pyz] [--downloads DIR]

It holds imsprep (with its knowledge base and templates) and the pure-Python dependencies in the
newest versions that still run on Python 3.6 (tools/pyz-requirements.txt): sh, distro, jinja2 and
markupsafe without its C speedups (markupsafe falls back to its pure-Python ``_native`` module).
psutil (compiled) is left out: imsprep reads /proc and statvfs without it (imsprep/proc.py).
Run it with ``python3 imsprep.pyz check`` on Python 3.6 or newer. The archive is reproducible: sorted
entries, fixed timestamps. Needs pip (to fetch the pinned releases; kept in --downloads)."""

import argparse
import glob
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REQUIREMENTS = os.path.join(HERE, "pyz-requirements.txt")
MAIN = b"import sys\n\nfrom imsprep.cli import main\n\nsys.exit(main())\n"
STAMP = (1980, 1, 1, 0, 0, 0)


def pins():
    with open(REQUIREMENTS) as fh:
        return [line.split("#")[0].strip() for line in fh if line.split("#")[0].strip()]


def fetch(downloads):
    """The pinned releases: wheels where one exists (markupsafe's for CPython 3.6 x86_64, whose .so
    is dropped), else the source archive (sh 1.14 has none)."""
    os.makedirs(downloads, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", downloads]
    for pin in pins():
        if find_archive(downloads, pin):
            continue
        wheel = subprocess.run(pip + ["--only-binary", ":all:", "--python-version", "3.6", "--implementation", "cp",
                                     "--abi", "cp36m", "--platform", "manylinux2014_x86_64", pin],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if wheel.returncode != 0:
            subprocess.run(pip + ["--no-binary", ":all:", pin], check=True)


def find_archive(downloads, pin):
    name, version = pin.split("==")
    prefix = "%s_%s" % (name.lower().replace("-", "_"), version)
    for path in sorted(glob.glob(os.path.join(downloads, "*"))):
        base = os.path.basename(path).lower().replace("-", "_")
        if base.startswith(prefix + "_") and base.endswith(".whl") or base == prefix + ".tar.gz":
            return path
    return None


def archive_for(downloads, pin):
    path = find_archive(downloads, pin)
    if not path:
        raise SystemExit("build_pyz: %s not in %s" % (pin, downloads))
    return path


def python_members(path, module, licenses=False):
    """(name inside the pyz, bytes) of the importable pure-Python files of one release; with
    ``licenses``, its license files too, as licenses/<module>/<file>."""
    out = []
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                top = name.split("/")[0]
                if top.endswith(".dist-info"):
                    if licenses and os.path.basename(name).upper().startswith(("LICENSE", "COPYING")):
                        out.append(("licenses/%s/%s" % (module, os.path.basename(name)), zf.read(name)))
                    continue
                if ".data" in top:
                    continue
                if name.endswith((".py", ".typed")):
                    out.append((name, zf.read(name)))
    else:
        with tarfile.open(path) as tf:
            for member in tf.getmembers():
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 2 and parts[1] == module + ".py":
                    out.append((parts[1], tf.extractfile(member).read()))
                elif licenses and member.isfile() and len(parts) == 2 and parts[1].upper().startswith(("LICENSE", "COPYING")):
                    out.append(("licenses/%s/%s" % (module, parts[1]), tf.extractfile(member).read()))
    return out


def vendor(target, downloads):
    """The same pure-Python dependencies, as a directory (the RPM bundles them from it)."""
    fetch(downloads)
    for pin in pins():
        for name, data in python_members(archive_for(downloads, pin), pin.split("==")[0].lower(), licenses=True):
            path = os.path.join(target, *name.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
    return target


def imsprep_members():
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, "imsprep")):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, "rb") as fh:
                    out.append((os.path.relpath(path, REPO).replace(os.sep, "/"), fh.read()))
    for source, target, suffix in (("checks", "imsprep/kb", ".json"), ("templates", "imsprep/templates", ".j2")):
        for name in sorted(os.listdir(os.path.join(REPO, source))):
            if name.endswith(suffix):
                with open(os.path.join(REPO, source, name), "rb") as fh:
                    out.append((target + "/" + name, fh.read()))
    return out + catalog_members()


def catalog_members():
    """The gettext catalogues, compiled with Babel (needed here, never where the pyz runs):
    imsprep/locale/<lang>/LC_MESSAGES/imsprep.mo, read from the archive by imsprep.i18n."""
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError:
        raise SystemExit("build_pyz: Babel is needed to compile the gettext catalogues (pip install Babel, or python3-babel)") from None
    out = []
    locale = os.path.join(REPO, "imsprep", "locale")
    for lang in sorted(os.listdir(locale)):
        po = os.path.join(locale, lang, "LC_MESSAGES", "imsprep.po")
        if not os.path.isfile(po):
            continue
        with open(po, "rb") as fh:
            catalog = read_po(fh)
        buf = io.BytesIO()
        write_mo(buf, catalog, use_fuzzy=False)
        out.append(("imsprep/locale/%s/LC_MESSAGES/imsprep.mo" % lang, buf.getvalue()))
    if not out:
        raise SystemExit("build_pyz: no gettext catalogue in %s" % locale)
    return out


def build(output, downloads):
    fetch(downloads)
    members = imsprep_members()
    for pin in pins():
        members += python_members(archive_for(downloads, pin), pin.split("==")[0].lower())
    members.append(("__main__.py", MAIN))
    names = [n for n, _ in members]
    dupes = sorted(set(n for n in names if names.count(n) > 1))
    if dupes:
        raise SystemExit("build_pyz: files from two sources: %s" % dupes)
    buf = io.BytesIO()
    buf.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(members):
            info = zipfile.ZipInfo(name, STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    tmp = output + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(buf.getvalue())
    os.chmod(tmp, 0o755)
    os.replace(tmp, output)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=os.path.join(REPO, "imsprep.pyz"))
    parser.add_argument("--downloads", default=os.path.join(tempfile.gettempdir(), "imsprep-pyz-downloads"),
                        help="where the pinned releases are fetched to and reused from")
    parser.add_argument("--vendor", metavar="DIR", help="write the dependencies (and their licenses) to DIR instead")
    args = parser.parse_args(argv)
    if args.vendor:
        print(vendor(args.vendor, args.downloads))
        return 0
    path = build(args.output, args.downloads)
    print("%s: %d bytes" % (path, os.path.getsize(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
