"""Classical baselines a tokenizer is compared with at matched rate: image codecs through Pillow
(:mod:`.images`: JPEG, WebP, AVIF), Opus through PyAV (:mod:`.opus`) and H.264 / AV1 through
PyAV (:mod:`.video`)."""

#: Display names that are not simply upper case.
_LABELS = {"opus": "Opus", "h264": "H.264", "av1_aom": "AV1 (libaom)"}


def variant_label(name: str) -> str:
    """``"jpeg" -> "JPEG"``, ``"jpeg@0.5x" -> "JPEG @0.5x"`` (coded at half resolution),
    ``"opus" -> "Opus"``."""
    base, _, scale = name.partition("@")
    return _LABELS.get(base, base.upper()) + (f" @{scale}" if scale else "")
