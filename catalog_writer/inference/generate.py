"""Generation engine: base model + adapter loaded once (merged), batched decoding, post-processing.

Prompts come from the adapter's own `template.json`, so inference sees exactly the prompt format the
adapter was trained on. Batches use left padding and prompts sorted by length (little padding), bf16
where the CPU/GPU supports it, and stop at the end of the assistant turn. Outputs are trimmed to complete
sentences and rendered as sanitised HTML (postprocess.py), and flagged for faithfulness (quality.metrics.faithfulness_flags).
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog_writer.ingest.catalog import Product
from catalog_writer.inference.postprocess import postprocess, to_html
from catalog_writer.inference.processors import chunks, generated_only, stop_token_ids
from catalog_writer.inference.selection import Checker, pick
from catalog_writer.inference.settings import GenerationSettings

if TYPE_CHECKING:
    from catalog_writer.training.adapter import Adapter

__all__ = ["Draft", "Engine", "GenerationSettings", "Generator", "adapter_version", "faithfulness",
           "load_template"]

Progress = Callable[[int, int], None]
"""progress(products_done_increment, new_tokens_increment), called after every decoded batch."""


@dataclass
class Draft:
    product_id: str
    text: str
    html: str
    flags: dict = field(default_factory=dict)
    model_version: str = "base"
    settings: dict = field(default_factory=dict)
    prompt: list[dict] = field(default_factory=list)
    new_tokens: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def faithfulness(text: str, product: Product) -> dict:
    """Flags from the evaluation module (unsupported claims, missing key attributes, coverage)."""
    from catalog_writer.dataset.prompts import product_facts
    from catalog_writer.quality.metrics import faithfulness_flags

    return faithfulness_flags(text, product_facts(product), title=product.title)


# ---------------------------------------------------------------- engines


def load_template(adapter: Adapter | Path | None):
    """The adapter's PromptTemplate (template.json), else the default template."""
    from catalog_writer.dataset.prompts import PromptTemplate
    from catalog_writer.training.adapter import open_adapter

    adapter = open_adapter(adapter)
    return adapter.template if adapter is not None else PromptTemplate()


def adapter_version(adapter: Adapter | Path | None) -> str:
    """"voice@version" of the adapter (a corrupt run.json is an error); "base" without an adapter."""
    from catalog_writer.training.adapter import open_adapter

    adapter = open_adapter(adapter)
    return adapter.model_version if adapter is not None else "base"


class Engine(ABC):
    """Shared part of the HF and vLLM engines: prompts in, Drafts out."""

    template: Any
    model_version: str = "base"
    exemplar_index: Any = None
    """The template's exemplar corpus (dataset.retrieval.ExemplarIndex), None without retrieval."""
    reward: Any = None
    """A reward model (inference/reward_scorer.RewardScorer) that ranks candidates and variants instead of
    the claim checker; None: the claim checker's order."""

    @abstractmethod
    def _complete(
        self, prompts: list[list[dict]], s: GenerationSettings, progress: Progress | None,
        avoid: list[list[str]] | None = None,
    ) -> list[list[tuple[str, int, bool]]]:
        """Per prompt, per candidate (`s.candidates`): (raw text, new tokens, truncated by the token limit).
        `avoid[i]`: words prompt i must not write (its exemplars' facts, see leakage.py)."""

    def exemplars_for(self, product: Product) -> list:
        """The similar described products shown in the product's prompt (never the product itself)."""
        if self.exemplar_index is None or not self.template.exemplars_k:
            return []
        from catalog_writer.dataset.prompts import product_facts

        # The prompt, the leakage ban and the claim checker each ask for the same product: search once
        # (a consensus search compares 5 descriptions by ROUGE-L, ~0.1 s). The facts are in the key, since
        # the UI edits them.
        key = (product.id, product.title, tuple(product_facts(product).items()))
        shown = self.__dict__.setdefault("_shown", {})
        if key not in shown:
            if len(shown) >= 4096:
                shown.clear()
            shown[key] = self.exemplar_index.for_product(product, self.template.exemplars_k,
                                                         self.template.exemplar_consensus)
        return shown[key]

    def avoid_for(self, product: Product) -> list[str]:
        """Words of the product's exemplars' facts and titles that its own facts lack (banned in decoding)."""
        from catalog_writer.dataset import retrieval

        shown = self.exemplars_for(product)
        if not shown:
            return []
        if getattr(self, "_house", None) is None:
            self._house = retrieval.house_words(e.description for e in self.exemplar_index.exemplars)
        from catalog_writer.dataset.prompts import product_facts

        return retrieval.leak_terms(shown, product.title, product_facts(product), self._house)

    def resolve(self, settings: GenerationSettings) -> GenerationSettings:
        """Settings as applied by this engine: the token budget, `strict` and copy guidance from its
        template's voice profile."""
        return settings.for_template(self.template)

    def messages(self, product: Product, settings: GenerationSettings) -> list[dict]:
        return self.template.messages(product, target_words=settings.target_words,
                                      exemplars=self.exemplars_for(product))

    def generate_messages(self, prompts: list[list[dict]], settings: GenerationSettings,
                          avoid: list[list[str]] | None = None) -> list[list[str]]:
        """Raw completions (special tokens removed, not post-processed) for chat prompts."""
        return [[t for t, _, _ in variants] for variants in self.complete_messages(prompts, settings, avoid)]

    def complete_messages(self, prompts: list[list[dict]], settings: GenerationSettings,
                          avoid: list[list[str]] | None = None) -> list[list[tuple[str, int, bool]]]:
        """Per prompt, per candidate: (raw text, new tokens, cut by the token limit), for callers that
        post-process like `generate` does (a draft cut by the limit loses its unfinished last bullet)."""
        return self._complete(prompts, self.resolve(settings), None, avoid)

    def generate(
        self, products: list[Product], settings: GenerationSettings, progress: Progress | None = None
    ) -> list[list[Draft]]:
        """Descriptions for products: outer list per product, inner per variant."""
        s = self.resolve(settings)
        prompts = [self.messages(p, s) for p in products]
        results = self._complete(prompts, s, progress, [self.avoid_for(p) for p in products])
        drafts = []
        for product, prompt, candidates in zip(products, prompts, results):
            # Each variant is the most faithful of its best_of candidates (strict: after dropping
            # unsupported sentences); with one candidate this only computes its flags.
            texts = [postprocess(raw, truncated=truncated) for raw, _, truncated in candidates]
            drafts.append([Draft(
                product_id=product.id, text=c.text, html=to_html(c.text), flags=c.flags,
                model_version=self.model_version, settings=asdict(s), prompt=prompt,
                new_tokens=candidates[c.index][1],
            ) for c in pick(texts, self.checker(product), keep=s.num_variants, strict=s.strict,
                            contradictions=s.drop_contradictions,
                            scorer=self.reward.scorer_for(prompt) if self.reward is not None else None)])
        return drafts

    def checker(self, product: Product) -> Checker:
        """The claim checker for a product's drafts: its facts, the exemplars its prompt showed, the
        brand's house phrases when the adapter has them."""
        from catalog_writer.dataset.prompts import product_facts

        shown = [{**e.facts, "title": e.title} for e in self.exemplars_for(product)]
        return Checker(product_facts(product), product.title, getattr(self, "house", None), shown or None)

    def close(self) -> None:
        pass


class Generator(Engine):
    """Hugging Face engine: model (+ merged adapter) loaded once, batched greedy or sampled decoding."""

    def __init__(self, base_model: Path | None = None, adapter: Adapter | Path | None = None,
                 dtype: str = "auto") -> None:
        """`adapter`: an opened training.adapter.Adapter, or its folder (opened here, once)."""
        from catalog_writer.dataset.retrieval import template_index
        from catalog_writer.quality.house import load_house
        from catalog_writer.training import modeling
        from catalog_writer.training.adapter import open_adapter

        self.adapter = open_adapter(adapter)
        folder = self.adapter.path if self.adapter else None
        template = load_template(self.adapter)
        index = template_index(template, folder)  # before the model loads: a wrong corpus fails fast
        model, tokenizer = modeling.load_for_inference(base_model, self.adapter, dtype=dtype, merge=True)
        self._setup(model, tokenizer, template, adapter_version(self.adapter))
        self.exemplar_index = index
        self.house = load_house(folder)  # the brand's voice phrases are not claims (None when absent)

    @classmethod
    def from_loaded(cls, model, tokenizer, template=None, model_version: str = "base",
                    exemplar_index=None) -> Generator:
        """Wrap an already loaded model/tokenizer (tests, benchmarks, the app's cached model)."""
        self = cls.__new__(cls)
        self._setup(model, tokenizer, template if template is not None else load_template(None), model_version)
        self.exemplar_index = exemplar_index
        return self

    @classmethod
    def for_voice(cls, name: str, root: Path = Path("models"), **kwargs) -> Generator:
        """The active adapter version of a registered brand voice."""
        from catalog_writer.training.registry import resolve_voice

        return cls(adapter=resolve_voice(name, root), **kwargs)

    def _setup(self, model, tokenizer, template, model_version: str) -> None:
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        from catalog_writer.inference.fast_attention import use_fast_attention

        self.model = model.eval()
        # CPU: one-token decoding steps use grouped matmuls instead of the slow SDPA CPU kernel (+25%).
        self.fast_attention = use_fast_attention(self.model)
        self.tokenizer = tokenizer
        self.template = template
        self.model_version = model_version
        self.stop_ids = stop_token_ids(tokenizer, getattr(model.generation_config, "eos_token_id", None))

    def close(self) -> None:
        """Drop the model so its memory can be reclaimed (the object is unusable afterwards)."""
        import gc

        self.model = None
        gc.collect()

    def encode(self, prompts: list[list[dict]]) -> list[list[int]]:
        """Token ids of chat prompts with the assistant turn opened."""
        texts = [self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in prompts]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def prompt_lengths(self, products: list[Product], settings: GenerationSettings) -> list[int]:
        """Prompt length in tokens per product (the batch job sorts by it to limit padding)."""
        return [len(x) for x in self.encode([self.messages(p, settings) for p in products])]

    def _complete(self, prompts, s, progress, avoid=None):
        import torch

        from catalog_writer.inference.copying import copy_processor, copy_sources
        from catalog_writer.inference.leakage import leakage_processor

        ids = self.encode(prompts)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: OOM shows early
        results: list[list[tuple[str, int, bool]]] = [[] for _ in ids]
        kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_new_tokens, "min_new_tokens": s.min_new_tokens or None,
            "num_return_sequences": s.candidates, "eos_token_id": self.stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            # Repetition controls come as processors that skip the prompt (processors.py): off here.
            "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
            "do_sample": s.do_sample,
        }
        if s.do_sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)  # silence sampling-flag warnings
        device = next(self.model.parameters()).device
        for chunk in chunks(order, max(1, s.batch_size)):
            batch = self.tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, padding=True, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            width = batch["input_ids"].shape[1]  # left padding: every prompt ends here
            # Seeded by the batch content, so a re-run (or a resumed run) reproduces the same batch.
            key = ",".join(str(ids[i]) for i in chunk).encode()
            torch.manual_seed(s.seed * 1_000_003 + zlib.crc32(key))
            with torch.inference_mode():
                sources = [copy_sources(self.template, prompts[i]) for i in chunk]
                copy = copy_processor(self.tokenizer, sources, width, s.copy_bias, s.candidates,
                                      self.stop_ids[0] if self.stop_ids else None)
                processors = generated_only(s, width, copy.exempt if copy else None)
                if avoid and (leak := leakage_processor(self.tokenizer, [avoid[i] for i in chunk], s.candidates)):
                    processors.append(leak)
                limit = s.max_new_tokens
                if copy:
                    processors.append(copy)
                    limit = copy.budget(limit)
                out = self.model.generate(**batch, **{**kwargs, "max_new_tokens": limit},
                                          logits_processor=processors)
            new = out[:, width:].tolist()
            done_tokens = 0
            for j, seq in enumerate(new):
                cut = next((k for k, t in enumerate(seq) if t in self.stop_ids), None)
                n = len(seq) if cut is None else cut + 1
                body = seq if cut is None else seq[:cut]
                raw = self.tokenizer.decode(body, skip_special_tokens=True).strip()
                text = self.template.strip_echo(raw)  # what follows an echoed heading is not the description
                results[chunk[j // s.candidates]].append((text, n, cut is None and text == raw))
                done_tokens += n
            if progress:
                progress(len(chunk), done_tokens)
        return results
