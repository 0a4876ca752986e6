"""The one evaluation loop, and the :class:`Evaluator` whose hooks make it image, audio, ...

:meth:`Evaluator.evaluate` runs every modality's reconstruction evaluation: open the data,
build the metrics (one set per rate point), then for every batch tokenize at each rate point,
detokenize, update the metrics and the codebook usage, count the code bits, optionally save the
reconstructions; unreadable items are skipped and listed (``skip_bad``) or stop the run naming
the file; the result dict carries the pinned protocol (see :mod:`.protocol`).

A modality registers an evaluator instance as ``Modality.evaluator`` (:mod:`zoo.modalities`);
the ``eval/`` runners look it up through the tokenizer's (or the result's) modality and call
it, so they hold no modality branches. This package never imports :mod:`zoo.modalities`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from tqdm.auto import tqdm

from zoo.evaluation.protocol import (
    COMMON_REQUIRED_FIELDS,
    RECONSTRUCTION_SCHEMA,
    environment_info,
    format_value,
    markdown_table,
    sha256_json,
    state_dict_sha256,
    utc_now,
    validate_result,
)
from zoo.evaluation.sources import DataLog
from zoo.metrics import METRIC_LABELS, CodebookUsage, FrechetDistance, bits_per_image
from zoo.metrics._utils import sha256_file


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class Batch:
    """What the loop needs of a batch: item names, the tokenizer's input (model range) and what
    the metrics compare against (``targets``; the inputs themselves unless set)."""

    names: list[str]
    inputs: Tensor
    targets: Tensor | None = None


@dataclass
class Run:
    """One evaluation run: the tokenizer, the evaluator's options (keyword arguments of
    :meth:`Evaluator.evaluate` past the common ones), and whatever the hooks keep in ``state``."""

    tokenizer: Any
    options: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class RateStats:
    """Per rate point: total code bits, items and the last codes' shape."""

    bits: float = 0.0
    items: int = 0
    codes_shape: tuple[int, ...] = ()


class Evaluator:
    """Base class of a modality's evaluation. The loop, the result record, the rate-distortion
    driver and the reports are inherited; a minimal subclass sets :attr:`name` and overrides

    * :meth:`open_data` and :meth:`batches` -- where the items come from and how they are read
      (use :class:`.sources.FolderSource` with your ``extensions`` for a folder of files);
    * :meth:`create_metrics` -- ``copies`` dicts of metrics (``update(preds, target)``,
      ``compute()``, ``describe()``) by name, and :attr:`default_metrics`;

    and inherits the rest: the bits of codes (``tokenizer.bits_per_item`` by default, see
    :meth:`code_bits`), no rate axis (``tokenize(x)`` once; set :attr:`rate_option` and
    override :meth:`rates` for one), no saved reconstructions (:meth:`write_reconstructions`),
    a Markdown table.
    Richer modalities also override:

    * CLI: :meth:`add_arguments` (an argument group of its own options; options of another
      modality are refused by :func:`.cli.check_modality_options`) and :meth:`options`;
    * the run: :meth:`setup` (checks before any data is read), :meth:`reconstruct`
      (tokenize/detokenize, and what the metrics measure), :meth:`rate_fields`,
      :meth:`protocol`, :meth:`data_fields`, :meth:`tokenizer_info`, :meth:`reference_metrics`;
    * reports: :meth:`markdown`, the leaderboard / model-card hooks (:meth:`board_point`,
      :meth:`protocol_key`, :meth:`card_metrics`) and the classical baseline for
      rate-distortion (:meth:`run_baseline` and the ``rd_*`` hooks, see :mod:`.rate_distortion`).
    """

    #: The modality name (``Tokenizer.modality``, ``result["modality"]``).
    name: ClassVar[str] = ""
    #: What one item is called, plural (tables, messages) and the progress-bar unit.
    items: ClassVar[str] = "items"
    unit: ClassVar[str] = "batch"
    #: The ``tokenize`` keyword of the rate axis (``"num_tokens"``) -- also the CLI option
    #: (``--num-tokens``) and the key of every ``results`` entry; None: one rate point.
    rate_option: ClassVar[str | None] = None
    rate_help: ClassVar[str] = ""
    #: Metrics when none are asked for, the keys ``--metrics`` lists, and help texts.
    default_metrics: ClassVar[tuple[str, ...]] = ()
    metric_keys: ClassVar[tuple[str, ...]] = ()
    data_help: ClassVar[str] = ""
    save_help: ClassVar[str] = ""
    #: Dotted paths a reconstruction result (and each ``results`` entry) must hold beyond
    #: :data:`.protocol.COMMON_REQUIRED_FIELDS`.
    required_fields: ClassVar[tuple[str, ...]] = ()
    required_result_fields: ClassVar[tuple[str, ...]] = ("metrics", "codebook")
    #: Leaderboard: the rate of a point (key, column label, format) and the setting column.
    board_rate: ClassVar[tuple[str, str, str]] = ("bits_per_item", "bits/item", "{:.1f}")
    board_setting: ClassVar[str] = "setting"
    #: What differs when protocol ids differ (leaderboard warning).
    protocol_parts: ClassVar[str] = "data or metric weights differ"

    # ------------------------------------------------------------------ CLI
    def add_arguments(self, group: argparse._ArgumentGroup) -> None:
        """Add this modality's options (besides the rate option) to its argument group."""

    def add_baseline_arguments(self, group: argparse._ArgumentGroup) -> None:
        """Add the options of the classical baseline (eval/rate_distortion.py)."""

    def options(self, args: argparse.Namespace) -> dict[str, Any]:
        """Parsed arguments -> keyword options of :meth:`evaluate` (the rate option included)."""
        return {self.rate_option: getattr(args, self.rate_option)} if self.rate_option else {}

    def baseline_options(self, args: argparse.Namespace) -> dict[str, Any]:
        """Parsed arguments -> keyword options of :meth:`run_baseline`."""
        return {}

    def accepts_rates(self, tokenizer: Any) -> bool:
        """Whether ``tokenizer`` takes the rate option (rate_distortion drops it otherwise)."""
        return self.rate_option is not None

    # ------------------------------------------------------------------ data and metrics
    def setup(self, run: Run) -> None:
        """Check the options against the tokenizer before any data is read; keep what the
        other hooks need in ``run.state``."""

    def open_data(self, spec: str, run: Run) -> Any:
        """The data source of ``--data`` (has ``describe()``; a wrong path fails here)."""
        # Abstract: one of the three hooks every evaluator defines (with batches, create_metrics).
        raise NotImplementedError(f"{type(self).__name__} must implement open_data")

    def batches(
        self, run: Run, source: Any, *, log: DataLog, skip_bad: bool, limit: int | None
    ) -> Iterator[Batch]:
        """Read, check and batch the items of ``source``, filling ``log`` (manifest, skipped)."""
        # Abstract: every evaluator reads its own items.
        raise NotImplementedError(f"{type(self).__name__} must implement batches")

    def num_batches(self, run: Run, source: Any, limit: int | None) -> int | None:
        """Batches the loop will see (for the progress bar; None when unknown)."""
        n = len(source) if hasattr(source, "__len__") else None
        return n if limit is None or n is None else min(n, limit)

    def metric_names(self, run: Run, requested: Sequence[str] | None) -> list[str]:
        return list(requested) if requested else list(self.default_metrics)

    def create_metrics(self, run: Run, names: Sequence[str], copies: int) -> list[dict[str, Any]]:
        """``copies`` independent dicts ``{name: metric}``."""
        # Abstract: every evaluator builds its own metrics.
        raise NotImplementedError(f"{type(self).__name__} must implement create_metrics")

    def reference_metrics(self, run: Run, names: Sequence[str]) -> dict[str, Any] | None:
        """No-reference metrics also measured on the originals (None: no such record)."""
        return None

    # ------------------------------------------------------------------ rates and codes
    def rates(self, run: Run, requested: Sequence[int] | None) -> list[Any]:
        """Rate points to evaluate (values of :attr:`rate_option`); ``[None]``: the default."""
        if requested:
            raise ValueError(f"{run.tokenizer._label}: {self.name} tokenizers have no rate axis")
        return [None]

    def reconstruct(self, run: Run, x: Tensor, rate: Any) -> tuple[Tensor, Tensor, Tensor]:
        """``(codes, measured, saved)``: the codes of ``x`` at ``rate``, the reconstruction the
        metrics see, and the one :meth:`write_reconstructions` writes."""
        tok = run.tokenizer
        codes = tok.tokenize(x) if rate is None else tok.tokenize(x, **{self.rate_option: rate})
        x_hat = tok.detokenize(codes).float().clamp(-1.0, 1.0)
        return codes, x_hat, x_hat

    def usage_codebooks(self, run: Run, rate: Any) -> int:
        """Codebooks the codes at ``rate`` hold (for the usage statistics)."""
        return int(run.tokenizer.num_codebooks)

    def code_bits(self, run: Run, codes: Tensor) -> float:
        """Bits of the codes of a whole batch, by the tokenizer's own accounting."""
        return bits_per_image(run.tokenizer, codes) * codes.shape[0]

    def rate_fields(self, run: Run, rate: Any, stats: RateStats) -> dict[str, Any]:
        """The rate part of a ``results`` entry (before ``metrics`` and ``codebook``)."""
        key = self.rate_option or "rate"
        return {key: rate, "bits_per_item": stats.bits / max(1, stats.items)}

    def rate_dir(self, rate: Any) -> str:
        """Subfolder of saved reconstructions per rate point, when several are evaluated."""
        return f"{self.rate_option or 'rate'}_{rate}"

    def write_reconstructions(
        self, run: Run, saved: Tensor, names: Sequence[str], folder: Path
    ) -> None:
        """Write the reconstructions of a batch under ``folder``, named after the items."""
        # Optional hook: an evaluator without a file format for its items refuses
        # --save-reconstructions (checked before any data is read, in evaluate()).
        raise NotImplementedError(f"{self.name}: saving reconstructions is not supported")

    # ------------------------------------------------------------------ the record
    def tokenizer_info(self, tokenizer: Any, name: str) -> dict[str, Any]:
        """Identity of the evaluated tokenizer: name, config and weights hashes, bit accounting."""
        config = tokenizer.get_config()
        info: dict[str, Any] = {
            "name": name,
            "architecture": config["architecture"],
            "config": config,
            "config_sha256": sha256_json(config),
            "weights_sha256": state_dict_sha256(tokenizer),
            "modality": tokenizer.modality,
            "flexible_length": bool(tokenizer.flexible_length),
            "num_tokens": int(tokenizer.num_tokens),
            "token_shape": list(tokenizer.token_shape()),
            "codebook_size": int(tokenizer.codebook_size),
            "num_codebooks": int(tokenizer.num_codebooks),
            "bits_per_token": float(tokenizer.quantizer.bits_per_token),
        }
        weights_file = Path(name) / "model.safetensors"
        if Path(name).is_dir() and weights_file.is_file():
            info["weights_file_sha256"] = sha256_file(weights_file)
        cfg = tokenizer.pretrained_cfg
        if cfg is not None:
            info["pretrained"] = {
                "hub_id": cfg.hub_id,
                "revision": cfg.revision,
                "license": cfg.license,
                "training_data": cfg.training_data,
            }
        return info

    def data_fields(self, run: Run, log: DataLog) -> dict[str, Any]:
        """Entries of ``data`` besides source, counts, skipped, limit and manifest."""
        return {}

    def protocol(self, run: Run, results: list[dict[str, Any]]) -> dict[str, Any]:
        """The modality's part of ``protocol`` (rates, value range, preprocessing, ...)."""
        return {self.rate_option or "rates": [r.get(self.rate_option or "rate") for r in results]}

    def environment(self, device: torch.device) -> dict[str, Any]:
        return environment_info(device)

    def validate(self, result: dict[str, Any], *, source: str = "result") -> None:
        """ValueError listing every protocol field ``result`` lacks."""
        validate_result(
            result,
            source=source,
            required=(COMMON_REQUIRED_FIELDS + self.required_fields, self.required_result_fields),
        )

    # ------------------------------------------------------------------ the loop
    def evaluate(
        self,
        tokenizer: Any,
        *,
        model_name: str,
        data: str,
        metrics: Sequence[str] | None = None,
        device: str = "auto",
        save_reconstructions: str | None = None,
        skip_bad: bool = False,
        limit: int | None = None,
        progress: bool = True,
        command: Sequence[str] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Evaluate ``tokenizer`` on ``data``; returns the result dict (see :mod:`.protocol`).

        ``options`` are the evaluator's own (its :attr:`rate_option` among them); the rest is
        common to every modality: the metric names, the device, a folder for reconstructions
        (one subfolder per rate point when several are evaluated), skipping unreadable items
        (listed in the result) instead of stopping, and a limit on the number of items.
        """
        start = time.perf_counter()
        if tokenizer.modality != self.name:
            raise ValueError(
                f"{tokenizer._label}: not {'an' if self.name[:1] in 'aeiou' else 'a'} "
                f"{self.name} tokenizer ({tokenizer.modality!r})"
            )
        if (
            save_reconstructions
            and type(self).write_reconstructions is Evaluator.write_reconstructions
        ):
            raise ValueError(
                f"--save-reconstructions: the {self.name} evaluator has no file format for its "
                "items; leave the option out"
            )
        dev = resolve_device(device)
        run = Run(tokenizer, dict(options))
        requested = run.options.pop(self.rate_option, None) if self.rate_option else None
        rates = self.rates(run, requested)
        self.setup(run)
        source = self.open_data(data, run)  # a wrong path fails before any network is loaded
        names = self.metric_names(run, metrics)
        sets = [
            {k: m.to(dev) for k, m in s.items()}
            for s in self.create_metrics(run, names, len(rates))
        ]
        reference = self.reference_metrics(run, names)
        usage = [
            CodebookUsage(
                codebook_size=tokenizer.codebook_size, num_codebooks=self.usage_codebooks(run, r)
            ).to(dev)
            for r in rates
        ]
        run.state["metrics"] = sets[0]
        log = DataLog()
        tokenizer = tokenizer.to(dev).eval()
        stats = [RateStats() for _ in rates]
        out_dirs = output_dirs(save_reconstructions, [self.rate_dir(r) for r in rates])
        batches = self.batches(run, source, log=log, skip_bad=skip_bad, limit=limit)
        bar = tqdm(batches, total=self.num_batches(run, source, limit), unit=self.unit,
                   desc=f"reconstruct {model_name}", disable=not progress)  # fmt: skip
        with torch.no_grad():
            for batch in bar:
                x = batch.inputs.to(dev)
                target = x if batch.targets is None else batch.targets.to(dev)
                for metric in sets[0].values():  # originals once; other rates share them
                    if isinstance(metric, FrechetDistance):
                        metric.update(target=target)
                for metric in (reference or {}).values():
                    metric.update(target, target)
                for i, rate in enumerate(rates):
                    codes, measured, saved = self.reconstruct(run, x, rate)
                    update_metrics(sets[i], measured, target)
                    usage[i].update(codes)
                    stats[i].bits += self.code_bits(run, codes)
                    stats[i].items += x.shape[0]
                    stats[i].codes_shape = tuple(codes.shape)
                    if out_dirs:
                        self.write_reconstructions(run, saved, batch.names, out_dirs[i])
        results = [
            {
                **self.rate_fields(run, rate, stats[i]),
                "metrics": {key: float(m.compute()) for key, m in sets[i].items()},
                "codebook": usage[i].compute(),
            }
            for i, rate in enumerate(rates)
        ]
        metric_info = {key: m.describe() for key, m in sets[0].items()}
        metric_info["codebook"] = usage[0].describe()
        extra = {} if reference is None else {
            "reference_metrics": {key: float(m.compute()) for key, m in reference.items()}
        }  # fmt: skip
        return {
            "schema": RECONSTRUCTION_SCHEMA,
            "modality": self.name,
            "tokenizer": self.tokenizer_info(tokenizer, model_name),
            "data": {
                "source": source.describe(),
                "num_samples": len(log.manifest),
                "num_skipped": len(log.skipped),
                "skipped": log.skipped,
                **self.data_fields(run, log),
                "limit": limit,
                "manifest_sha256": log.manifest_sha256(),
                "manifest": log.manifest,
            },
            "protocol": {
                **self.protocol(run, results),
                "metric_names": names,
                "reconstructions_dir": str(save_reconstructions) if save_reconstructions else None,
            },
            "metrics": metric_info,
            **extra,
            "results": results,
            "environment": self.environment(dev),
            "wall_time_s": round(time.perf_counter() - start, 3),
            "created": utc_now(),
            "command": list(command) if command is not None else None,
        }

    # ------------------------------------------------------------------ Markdown
    def result_rows(self, result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the per-rate table of a reconstruction result."""
        keys = list(result["protocol"]["metric_names"])
        rate_header, rate_cells = self.rate_columns()
        header = rate_header + [METRIC_LABELS.get(k, k) for k in keys]
        header += ["codebook usage", "perplexity", "code entropy (bits)"]
        rows = []
        for r in result["results"]:
            cb = r["codebook"]
            rows.append(
                [cell(r) for cell in rate_cells]
                + [format_value(r["metrics"].get(k), k) for k in keys]
                + [
                    f"{cb['codebook_usage']:.4f}",
                    f"{cb['perplexity']:.1f}",
                    f"{cb['code_entropy_bits']:.2f} / {cb['max_entropy_bits']:.2f}",
                ]
            )
        ref = result.get("reference_metrics") or {}
        if ref:
            rows.append(
                ["originals"] + ["–"] * (len(rate_header) - 1)
                + [format_value(ref.get(k), k) if k in ref else "–" for k in keys]
                + ["–", "–", "–"]
            )  # fmt: skip
        return header, rows

    def rate_columns(self) -> tuple[list[str], list[Any]]:
        """Leading columns of the result table: headers and a cell function of a results entry."""
        key = self.rate_option or "rate"
        return [key.replace("_", " "), "bits/item"], [
            lambda r: str(r.get(key)),
            lambda r: f"{r['bits_per_item']:.1f}",
        ]

    def markdown_lines(self, result: dict[str, Any]) -> list[str]:
        """The bullet lines of the report between its title and its table."""
        tok, data = result["tokenizer"], result["data"]
        return [
            f"- data: `{data['source']['spec']}` ({data['num_samples']} {self.items}, "
            f"{data['num_skipped']} skipped; manifest sha256 `{data['manifest_sha256'][:16]}`)",
            f"- tokenizer config sha256 `{tok['config_sha256'][:16]}`, weights sha256 "
            f"`{tok['weights_sha256'][:16]}`",
            f"- {result['environment']['device']}, {result['wall_time_s']:.1f} s, "
            f"zoo {result['environment']['zoo_version']}",
        ]

    def markdown(self, result: dict[str, Any]) -> str:
        """The Markdown report written next to a reconstruction result JSON."""
        header, rows = self.result_rows(result)
        lines = [f"# Reconstruction: `{result['tokenizer']['name']}`", ""]
        lines += self.markdown_lines(result)
        lines += ["", markdown_table(header, rows)]
        return "\n".join(lines + self.markdown_notes(result))

    def markdown_notes(self, result: dict[str, Any]) -> list[str]:
        """Lines after the table."""
        return []

    # ------------------------------------------------------------------ leaderboards, cards
    def board_point(self, point: dict[str, Any]) -> dict[str, Any]:
        """A ``results`` entry (or a rate-distortion tokenizer point) as a leaderboard point
        ``{"num_tokens": setting, <board rate key>: rate, "metrics"}``."""
        key = self.rate_option or "rate"
        return {"num_tokens": point.get(key), self.board_rate[0]: point[self.board_rate[0]],
                "metrics": point["metrics"]}  # fmt: skip

    def protocol_key(self, result: dict[str, Any]) -> dict[str, Any]:
        """What must agree for two results to be comparable (weights are added by the caller)."""
        return {"manifest": result["data"]["manifest_sha256"]}

    def board_notes(self) -> list[str]:
        """Lines under the leaderboard title."""
        return []

    def card_dataset(self, result: dict[str, Any]) -> str:
        """``"(9 images)"``: what the model card says after the dataset name."""
        return f"({result['data']['num_samples']} {self.items})"

    def card_metrics(self, result: dict[str, Any]) -> dict[str, float]:
        """``{label: value}`` of a result for the model card (finite values only)."""
        out: dict[str, float] = {}
        for r in result["results"]:
            where = f"@{r.get(self.rate_option or 'rate')}"
            out.update(finite_labelled(r["metrics"], where))
            out[f"codebook usage {where}"] = float(r["codebook"]["codebook_usage"])
        return out

    # ------------------------------------------------------------------ rate-distortion
    #: Report title, protocol fields that must agree between results ``(what, key)``, the hint
    #: of that error, the setting column, the rate unit and the sweep section's title.
    rd_title: ClassVar[str] = "Rate-distortion"
    rd_same: ClassVar[tuple[tuple[str, str], ...]] = ()
    rd_same_hint: ClassVar[str] = "protocol"
    rd_setting: ClassVar[str] = "setting"
    rd_unit: ClassVar[str] = ""
    rd_sweep_title: ClassVar[str] = "Baseline sweep"
    #: Plot rates: the key of a tokenizer point and of a baseline entry.
    rd_rates: ClassVar[tuple[str, str]] = ("", "")
    item: ClassVar[str] = "item"

    def rd_default_metrics(self, options: dict[str, Any]) -> list[str] | None:
        """Metrics eval/rate_distortion.py evaluates tokenizers with (None: the default)."""
        return None

    def rd_metric_names(self, proto: dict[str, Any], metrics: Sequence[str] | None) -> list[str]:
        """Metrics compared: those asked for, else those of the first result's protocol."""
        return list(metrics) if metrics else list(proto["metric_names"])

    def rd_identity(self, result: dict[str, Any]) -> dict[str, Any]:
        tok = result["tokenizer"]
        return {k: tok[k] for k in ("name", "architecture", "config_sha256", "weights_sha256")}

    def run_baseline(self, *, results: list[dict[str, Any]], **kw: Any) -> tuple[Any, Any, dict]:
        """``({baseline: {"settings", "matched", "sweep"}}, data log, protocol)`` of the
        classical baseline on the results' data at the ``targets`` rates."""
        # Optional hook: a modality without a classical codec cannot run rate_distortion.
        raise NotImplementedError(f"modality {self.name!r} has no classical baseline")

    def board_sweep_point(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A baseline sweep entry as a leaderboard point (see :meth:`board_point`)."""
        # Only reached for baseline entries, which only run_baseline produces.
        raise NotImplementedError(f"modality {self.name!r} has no classical baseline")


def finite_labelled(metrics: dict[str, Any], where: str) -> dict[str, float]:
    """``{"<label> <where>": value}`` for the finite values of ``metrics`` (model-index needs
    finite numbers)."""
    out = {}
    for k, v in metrics.items():
        value = float(v)
        if value == value and abs(value) != float("inf"):
            out[f"{METRIC_LABELS.get(k, k)} {where}"] = value
    return out


def update_metrics(metrics: dict[str, Any], preds: Tensor, target: Tensor) -> None:
    """Update a metric set with one batch; Fréchet distances take only the reconstructions (the
    originals went into the first set once)."""
    for metric in metrics.values():
        if isinstance(metric, FrechetDistance):
            metric.update(preds)
        else:
            metric.update(preds, target)


def output_dirs(root: str | None, subfolders: Sequence[str]) -> list[Path] | None:
    """Folders for saved reconstructions: ``root`` itself for one rate point, else one
    subfolder per rate point (created)."""
    if root is None:
        return None
    base = Path(root)
    dirs = [base / s for s in subfolders] if len(subfolders) > 1 else [base]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def check_evaluator(evaluators: dict[str, Evaluator | None], modality: str, what: str) -> Evaluator:
    """The evaluator of ``modality`` among ``evaluators`` (``{modality: evaluator or None}``,
    e.g. from :mod:`zoo.modalities`); NotImplementedError when it has none."""
    evaluator = evaluators.get(modality)
    if evaluator is None:
        have = sorted(k for k, v in evaluators.items() if v is not None)
        raise NotImplementedError(
            f"{what}: no reconstruction evaluator for modality {modality!r} yet (have {have}); "
            "a modality gets one by setting Modality.evaluator to a zoo.evaluation.Evaluator"
        )
    return evaluator
