"""Audio: ``(B, channels, samples)`` in [-1, 1] at the tokenizer's ``sample_rate``; rate axis =
codebook count (kbps)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import soundfile as sf
from torch import Tensor

from zoo.evaluation import AudioEvaluator
from zoo.metrics.audio import si_sdr
from zoo.modalities.registry import Modality, register_modality


@register_modality
class AudioModality(Modality):
    name = "audio"
    layout = "(B, channels, samples)"
    rate_option = "num_codebooks"
    rate_unit = "kbps"
    # EnCodec (Defossez et al. 2023, sec. 3.4) / DAC (Kumar et al. 2023, sec. 3.4): waveform L1
    # + multi-resolution log-mel L1, and multi-period + multi-scale STFT discriminators.
    default_losses = {"l1": 1.0, "mel": 1.0}
    # Validation reports the mel distance of every run, also when training does not use it.
    validation_losses = {"mel": 0.0}
    default_discriminators = ("mpd", "msstft")
    evaluator = AudioEvaluator()

    def loss_args(self, tokenizer: Any) -> dict[str, Any]:
        return {"sample_rate": tokenizer.sample_rate}

    def quality(self, x_hat: Tensor, x: Tensor) -> tuple[str, Tensor]:
        return "si_sdr", si_sdr(x_hat.detach().float(), x.float()).mean()

    def validation_rates(self, tokenizer: Any, requested: Sequence[int] | None) -> list[int]:
        """Codebook counts of variable-bitrate codecs (default: smallest, middle, largest)."""
        supported = tokenizer.supported_num_codebooks()
        if requested is None:
            pick = {supported[0], supported[len(supported) // 2], supported[-1]}
            return sorted(pick) if len(supported) > 1 else []
        bad = [k for k in requested if int(k) not in supported]
        if bad:
            raise ValueError(
                f"validation rates (codebook counts) {bad} not supported by "
                f"{tokenizer.architecture!r} (supported: {supported})"
            )
        return sorted({int(k) for k in requested})

    def rate_quality(
        self, tokenizer: Any, x: Tensor, rate: int, losses: dict[str, Any]
    ) -> tuple[str, Tensor, Tensor | None]:
        x_k = tokenizer.detokenize(tokenizer.tokenize(x, num_codebooks=rate), length=x.shape[-1])
        return f"mel@{rate}", losses["mel"](x_k, x), None

    def log_examples(self, module: Any, x: Tensor, rows: list[Tensor]) -> None:
        """Originals and reconstructions as WAV files (TensorBoard ``add_audio`` when a
        TensorBoard logger is attached) under ``<log_dir>/audio/step<N>/``."""
        trainer = module.trainer
        root = trainer.log_dir or trainer.default_root_dir
        if not trainer.is_global_zero:
            return
        n = min(module.log_examples_count, x.shape[0])
        step = int(module.step_count)
        sr = module.tokenizer.sample_rate
        folder = Path(root) / "audio" / f"step{step:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            for tag, clip in (("original", rows[0][i]), ("reconstruction", rows[1][i])):
                wav = clip.detach().float().clamp(-1, 1).cpu()
                sf.write(folder / f"{i:02d}_{tag}.wav", wav.T.numpy(), sr, subtype="PCM_16")
                for logger in module.loggers:
                    experiment = getattr(logger, "experiment", None)
                    if hasattr(experiment, "add_audio"):
                        experiment.add_audio(f"val/{tag}_{i}", wav.mean(0), step, sample_rate=sr)

    def check_datamodule(self, tokenizer: Any, datamodule: Any) -> None:
        # A 16 kHz model fed 24 kHz clips would train on pitch-shifted audio without any error.
        for name in ("sample_rate", "channels"):
            want = getattr(tokenizer, name)
            got = getattr(datamodule, name, None)
            if got is not None and int(got) != int(want):
                raise ValueError(
                    f"TokenizerModule: the data module's {name}={got} differs from the "
                    f"tokenizer's {name}={want} ({tokenizer.architecture!r}); set "
                    f"data.{name}: {want}"
                )
