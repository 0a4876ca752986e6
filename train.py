"""Train a tokenizer from YAML configs (LightningCLI).

    python train.py fit --config configs/image/titok_cpu_flex.yaml
    python train.py fit --config configs/image/vqgan_cpu_f8.yaml \
        --config configs/trainer/cpu_smoke.yaml                   # compose: recipe + trainer
    python train.py fit --config configs/image/titok_cpu_flex.yaml --ckpt_path last   # resume
    python train.py fit --config ... --export_dir out/tok         # export the EMA weights after fit

Multi-GPU / multi-node: compose ``configs/trainer/ddp.yaml`` (or fsdp.yaml, bf16.yaml) and set
``--trainer.devices`` / ``--trainer.num_nodes``. See ``python train.py fit --help``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningCLI

from zoo._io import OutputPathError, check_output_paths, refuse_urls
from zoo.training import AudioDataModule, ImageDataModule, TokenizerModule  # noqa: F401
from zoo.training.export import EXPORT_FILES
from zoo.training.recipes import legacy_recipe_error


class TokenizerCLI(LightningCLI):
    """LightningCLI over TokenizerModule + a data module (``data.class_path``: ImageDataModule or
    AudioDataModule, or any LightningDataModule), plus ``--export_dir``.

    Checkpoints to resume from (``--ckpt_path``) are local files, unpickled with
    ``weights_only=True``; an existing export in ``--export_dir`` is replaced only with
    ``--export_overwrite true`` (checked before training starts)."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--export_dir",
            type=str | None,
            default=None,
            help="after fit, write the (EMA) tokenizer here with save_pretrained",
        )
        parser.add_argument(
            "--export_overwrite",
            type=bool,
            default=False,
            help="replace an earlier export in --export_dir",
        )

    def before_fit(self) -> None:
        config = self.config[self.subcommand]
        export_dir = config.get("export_dir")
        if export_dir:
            try:
                check_output_paths(
                    [Path(export_dir) / n for n in EXPORT_FILES],
                    overwrite=bool(config.get("export_overwrite")),
                    flag="--export_overwrite true",
                )
            except OutputPathError as err:
                raise SystemExit(f"train.py: --export_dir: {err}") from None

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict[str, Any]:
        kwargs = super()._prepare_subcommand_kwargs(subcommand)
        if kwargs.get("ckpt_path") is not None:
            try:
                refuse_urls(kwargs["ckpt_path"], "--ckpt_path")
            except ValueError as err:
                raise SystemExit(f"train.py: {err}") from None
        if "weights_only" in self._subcommand_method_arguments[subcommand]:
            kwargs["weights_only"] = True
        return kwargs

    def after_fit(self) -> None:
        export_dir = self.config[self.subcommand].get("export_dir")
        if export_dir and self.trainer.is_global_zero:
            self.model.export(export_dir)


def cli_main(args: list[str] | None = None, *, run: bool = True) -> TokenizerCLI:
    """Build the CLI (``run=False`` only parses and instantiates, as the config tests do)."""
    error = legacy_recipe_error(sys.argv[1:] if args is None else args)
    if error:
        raise SystemExit(error)
    return TokenizerCLI(
        TokenizerModule,
        LightningDataModule,
        subclass_mode_model=False,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        # The module owns its optimizers (two, for manual GAN optimisation).
        auto_configure_optimizers=False,
        args=args,
        run=run,
    )


if __name__ == "__main__":
    cli_main()
