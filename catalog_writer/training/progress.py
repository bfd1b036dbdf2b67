"""A one-line training progress bar: step, loss, tokens/s, ETA (tqdm), eval losses printed under it."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class ProgressBar(TrainerCallback):
    """Replaces transformers' ProgressCallback, which prints every log dict as its own line."""

    def __init__(self) -> None:
        self.bar = None
        self.start = 0.0
        self.tokens0 = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from tqdm.auto import tqdm

        # `initial` so a resumed run shows its true position and an honest ETA.
        self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training", unit="step",
                        dynamic_ncols=True)
        self.start, self.tokens0 = time.time(), state.num_input_tokens_seen or 0

    def tokens_per_second(self, state) -> float:
        elapsed = time.time() - self.start
        return ((state.num_input_tokens_seen or 0) - self.tokens0) / elapsed if elapsed > 0 else 0.0

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            self.bar.set_postfix(self._postfix(state), refresh=True)

    def _postfix(self, state) -> dict:
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        post = {"loss": f"{losses[-1]:.3f}"} if losses else {}
        post["tok/s"] = f"{self.tokens_per_second(state):.0f}"
        return post

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None:
            self.bar.set_postfix(self._postfix(state), refresh=True)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.bar is not None and metrics and "eval_loss" in metrics:
            self.bar.write(f"epoch {state.epoch:.2f} step {state.global_step}: val loss {metrics['eval_loss']:.4f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
