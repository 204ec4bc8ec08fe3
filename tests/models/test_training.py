import pytest
import torch

from xaigen.errors import InputError
from xaigen.models import TrainConfig, build_model, load_or_train, small_cnn


def test_cache_roundtrip_and_corruption(tmp_path):
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    cfg = TrainConfig(epochs=1)
    model, cached = load_or_train(small_cnn(), x, y, cfg, tmp_path, {"model": "small-cnn"})
    assert not cached
    again, cached = load_or_train(small_cnn(), x, y, cfg, tmp_path, {"model": "small-cnn"})
    assert cached
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    (checkpoint,) = tmp_path.glob("*.pt")
    checkpoint.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(InputError, match="corrupted checkpoint") as info:
        load_or_train(small_cnn(), x, y, cfg, tmp_path, {"model": "small-cnn"})
    assert str(checkpoint) in str(info.value)


def test_training_is_deterministic():
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    a, b = small_cnn(), small_cnn()
    b.load_state_dict(a.state_dict())
    from xaigen.models import train

    train(a, x, y, TrainConfig(epochs=1, seed=5))
    train(b, x, y, TrainConfig(epochs=1, seed=5))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("name,shape", [("small-cnn", (1, 8)), ("lenet5", (1, 28)), ("lenet5", (3, 32)),
                                        ("resnet8", (3, 32)), ("resnet20", (1, 28))])
def test_models_run(name, shape):
    model = build_model(name, shape[0], 10, shape[1]).eval()
    assert model(torch.zeros(2, shape[0], shape[1], shape[1])).shape == (2, 10)


def test_bad_model_names():
    with pytest.raises(InputError, match="6n\\+2"):
        build_model("resnet10", 3, 10, 32)
    with pytest.raises(InputError, match="8x8"):
        build_model("small-cnn", 1, 10, 28)
