"""LatentTiTok (a 1D TiTok over a frozen 2D tokenizer's latent grid), latent caches, and the
export that joins a trained 1D stage with its 2D tokenizer."""

from __future__ import annotations

import lightning
import pytest
import torch

import zoo
from zoo.data.image import CropCacheDataset, build_crop_cache
from zoo.data.latents import build_latent_cache, encode_latents
from zoo.data.samples import photo_crops
from zoo.data.transforms import MultiScaleCrop
from zoo.tokenizers.image import LatentTiTok
from zoo.training import TokenizerModule


def _tiny(seed: int = 0) -> LatentTiTok:
    torch.manual_seed(seed)
    return zoo.create_tokenizer("titok_latent_test").eval()


def _latent_args(tok: LatentTiTok) -> dict:
    return dict(tok._hub_mixin_config["latent_tokenizer_args"])


def test_codes_and_prefix_decodes_are_the_two_stages_composed():
    tok = _tiny()
    x = photo_crops(2, 32, seed=1)
    grid = tok.latent_grid(x)
    assert grid.shape == (2, 3, 8, 8)
    # The grid is what the 2D tokenizer's decoder receives for its own codes.
    pixel_codes = tok.pixel.tokenize(x)
    torch.testing.assert_close(
        tok.pixel.quantizer.decode(pixel_codes), grid.permute(0, 2, 3, 1), rtol=0, atol=1e-6
    )
    codes = tok.tokenize(x)
    assert codes.shape == (2, 4, 1)  # 4 tokens, one FSQ code each
    assert torch.equal(codes, tok.latent.tokenize(grid))
    with torch.no_grad():
        for k in (1, 2, 4):
            want = tok.pixel.decode(tok.latent.detokenize(codes[:, :k]).permute(0, 2, 3, 1))
            torch.testing.assert_close(tok.detokenize(codes[:, :k]), want)
    assert tok.bits_per_item(2) == pytest.approx(tok.latent.bits_per_item(2))


def test_training_moves_only_the_1d_stage():
    module = TokenizerModule(tokenizer="titok_latent_test", ema={"decay": 0.0})
    tok = module.tokenizer
    assert all(not p.requires_grad for p in tok.pixel.parameters())
    before = {k: v.clone() for k, v in tok.state_dict().items()}
    opt = torch.optim.AdamW([p for p in tok.parameters() if p.requires_grad], lr=1e-2)
    tok.train()
    assert not tok.pixel.training  # frozen: stays in inference behaviour
    x = photo_crops(2, 32, seed=2)
    out = tok(x, num_tokens=4)
    ((out.reconstruction - x).abs().mean() + out.quantizer.loss).backward()
    opt.step()
    after = tok.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("pixel."))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("latent."))


def test_train_pixel_decoder_moves_the_2d_decoder_but_never_the_grid():
    """Decoder fine-tuning: the 1D stage and the 2D decoder train, through the module's own
    optimizer; the 2D encoder and quantizer stay frozen, so the latent grid does not move."""
    module = TokenizerModule(tokenizer="titok_latent_test",
                             tokenizer_args={"train_pixel_decoder": True}, ema={"decay": 0.0},
                             adversarial={"weight": 0.0})  # fmt: skip
    module.trainer = lightning.Trainer(
        max_steps=10, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    tok = module.tokenizer
    decoder = ("pixel.decoder.", "pixel.post_quant_conv.")
    trainable = {n for n, p in tok.named_parameters() if p.requires_grad}
    moving = decoder + ("latent.",)
    assert trainable == {n for n, _ in tok.named_parameters() if n.startswith(moving)}
    (opt,), _ = module.configure_optimizers()  # what train.py steps
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == sum(
        p.numel() for p in tok.parameters() if p.requires_grad
    )
    x = photo_crops(2, 32, seed=2)
    grid = tok.latent_grid(x)
    before = {k: v.clone() for k, v in tok.state_dict().items()}
    tok.train()
    assert tok.pixel.decoder.training and not tok.pixel.encoder.training
    out = tok(x, num_tokens=4)
    ((out.reconstruction - x).abs().mean() + out.quantizer.loss).backward()
    opt.step()
    after = tok.state_dict()
    moved = {k for k in after if not torch.equal(before[k], after[k])}
    assert any(k.startswith("pixel.decoder.") for k in moved)
    assert any(k.startswith("latent.") for k in moved)
    assert not any(k.startswith("pixel.") and not k.startswith(decoder) for k in moved)
    torch.testing.assert_close(tok.latent_grid(x), grid, rtol=0, atol=0)
    assert tok.get_config()["train_pixel_decoder"] is True


def test_mismatched_stages_name_the_fix():
    args = _latent_args(_tiny())
    with pytest.raises(ValueError, match="reads 6-channel grids .* set in_channels=3"):
        zoo.create_tokenizer("titok_latent_test", latent_tokenizer_args=args | {"in_channels": 6})
    with pytest.raises(ValueError, match="use image_size=32"):
        zoo.create_tokenizer("titok_latent_test", image_size=64)
    with pytest.raises(TypeError, match="must be a TiTok variant"):
        zoo.create_tokenizer("titok_latent_test", latent_tokenizer="vqgan_test",
                             latent_tokenizer_args={})  # fmt: skip
    with pytest.raises(TypeError, match="must be a 2D"):
        zoo.create_tokenizer("titok_latent_test", pixel_tokenizer="titok_test")


@pytest.fixture
def crop_cache(tmp_path):
    import skimage.data
    from PIL import Image

    src = tmp_path / "photos"
    src.mkdir()
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        Image.fromarray(getattr(skimage.data, name)()).resize((80, 60)).save(src / f"{i}.png")
    crop = MultiScaleCrop(crop_size=32, min_short_side=40, max_short_side=60, flip=False)
    files = sorted(src.iterdir())
    return build_crop_cache(files, tmp_path / "crops.safetensors", num_crops=5, crop=crop, seed=3)


def test_latent_cache_holds_the_grids_and_their_flips(tmp_path, crop_cache):
    tok = _tiny()
    crops = CropCacheDataset(crop_cache, train=False)
    path = build_latent_cache(tok.pixel, crops, tmp_path / "lat.safetensors", flips=True,
                              batch_size=3, progress=False)  # fmt: skip
    latents = CropCacheDataset(path, train=True)  # train: random windows, never flips
    assert len(latents) == 10  # batches of 3 and 2, each followed by its mirror
    x = torch.stack([crops[i] for i in range(3)])
    want = encode_latents(tok.pixel, x).permute(0, 3, 1, 2)
    mirrored = encode_latents(tok.pixel, x.flip(-1)).permute(0, 3, 1, 2)
    for i in range(3):  # float16 storage
        torch.testing.assert_close(latents[i], want[i], rtol=0, atol=2e-3)
        torch.testing.assert_close(latents[3 + i], mirrored[i], rtol=0, atol=2e-3)
        assert torch.equal(latents[i], latents[i])
    assert latents[0].dtype == torch.float32 and latents[0].shape == (3, 8, 8)
    with pytest.raises(ValueError, match="needs a 2D tokenizer"):
        encode_latents(tok.latent, x)


def test_export_joins_a_trained_1d_stage_with_its_2d_tokenizer(tmp_path):
    from zoo.training.export import export_checkpoint

    tok = _tiny(seed=4)
    pixel_dir = tmp_path / "pixel"
    tok.pixel.save_pretrained(pixel_dir)
    module = TokenizerModule(tokenizer="titok_test", tokenizer_args=_latent_args(tok),
                             ema={"decay": 0.0})  # fmt: skip
    module.tokenizer.load_state_dict(tok.latent.state_dict())
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": lightning.__version__}  # fmt: skip
    torch.save(ckpt, tmp_path / "last.ckpt")
    with pytest.raises(ValueError, match="join and pixel go together"):
        export_checkpoint(str(tmp_path / "last.ckpt"), str(tmp_path / "out"), join="x")
    out = export_checkpoint(str(tmp_path / "last.ckpt"), str(tmp_path / "out"),
                            join="titok_latent_test", pixel=str(pixel_dir))  # fmt: skip
    joined = zoo.load(out)
    assert isinstance(joined, LatentTiTok) and joined.architecture == "titok_latent_test"
    x = photo_crops(2, 32, seed=5)
    assert torch.equal(joined.tokenize(x), tok.tokenize(x))
