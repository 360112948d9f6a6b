"""Builders for engine tests: notebooks from ``# %%`` cell files, zips, PDF reports."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path

import nbformat

HERE = Path(__file__).parent


def notebook_from_cells(text: str) -> nbformat.NotebookNode:
    """A notebook whose code cells are the ``# %%``-separated parts of ``text``."""
    parts = [p.strip("\n") for p in text.split("# %%")]
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(p) for p in parts if p.strip()])


def notebook_bytes(cells_file: Path) -> bytes:
    """The notebook of a ``.cells`` file (code cells separated by ``# %%`` lines)."""
    return nbformat.writes(notebook_from_cells(cells_file.read_text())).encode()


def write_zip(path: Path, members: Mapping[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def pdf_bytes(first_line: str = "My report", **metadata: str) -> bytes:
    """A one-page PDF with ``first_line`` on it and the given metadata (Title, Producer...)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"pdf.fonttype": 42}):
        fig = plt.figure(figsize=(8.5, 11))
        fig.text(0.1, 0.9, first_line)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="pdf", metadata={"Title": "Report", **metadata})
        plt.close(fig)
    return buffer.getvalue()


def scenario(name: str) -> dict:
    return json.loads((HERE / name / "scenario.json").read_text())


def build_submission(name: str, target: Path) -> Path:
    """The student folder of scenario ``name``: code.zip (and report.pdf) as it says."""
    spec = scenario(name)
    folder = target / spec.get("student", name)
    notebooks = {nb: notebook_bytes(HERE / name / cells) if cells.endswith(".cells")
                 else (HERE / name / cells).read_bytes()
                 for nb, cells in spec["notebooks"].items()}
    if spec.get("zipped", True):
        write_zip(folder / "code.zip", notebooks)
    else:
        folder.mkdir(parents=True)
        for nb, data in notebooks.items():
            (folder / nb).write_bytes(data)
    report = spec.get("report", "plain")
    if report == "plain":
        (folder / "report.pdf").write_bytes(pdf_bytes())
    elif report == "export":
        (folder / "report.pdf").write_bytes(pdf_bytes("In [1]: import torch",
                                                      Creator="nbconvert"))
    return folder


def _pdf_objects(objects: list[bytes]) -> bytes:
    """A PDF file of the numbered ``objects`` (1 is the catalog), with its cross-reference."""
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    return out + (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
                  "%%EOF\n").encode()


def pdf_pypdf_cannot_inspect() -> bytes:
    """A valid-looking one-page PDF whose font's ToUnicode map uses a filter pypdf does not
    know: reading its text raises NotImplementedError (the kind of failure real PDFs give)."""
    text = b"BT /F1 12 Tf (My report) Tj ET"
    return _pdf_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Length 1 /Filter /NoSuchDecode >>\nstream\nx\nendstream",
    ])
