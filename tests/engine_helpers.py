"""Engine wrappers for tests (plain classes, not fixtures)."""

from __future__ import annotations


class Spy:
    """Wraps an engine and records which products it was asked to generate."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []
        self.template, self.model_version = inner.template, inner.model_version

    def prompt_lengths(self, products, settings):
        return self.inner.prompt_lengths(products, settings)

    def generate(self, products, settings, progress=None):
        self.seen += [p.id for p in products]
        return self.inner.generate(products, settings, progress)
