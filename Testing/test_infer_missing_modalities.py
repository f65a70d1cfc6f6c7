"""A model trained with sequences missing runs on cases that lack them: the engine passes an
absent sequence as 0 (as training did), `infer` and `evaluate` find the sequences a case has."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lesiongan.data.augmentation import SliceAugmentation
from lesiongan.errors import InputError, ModelFileError, VolumeError
from lesiongan.infer.cases import Case, group_cases, output_paths
from lesiongan.infer.engine import run_model
from lesiongan.infer.modelfile import load_model
from test_infer_support import CeilingGenerator, brain_volume, write_model

MODALITIES = ("flair", "t1", "t2")


class ChannelSpy(CeilingGenerator):
    """The ceiling generator that keeps the last input batch it saw."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return super().forward(x)


def _model(tmp_path, optional=("t1", "t2"), name="m.pt"):
    conventions = {"optional_modalities": list(optional)} if optional else {}
    return load_model(write_model(tmp_path / name, modalities=MODALITIES, ceiling=0.0, conventions=conventions))


def test_absent_optional_sequences_go_in_as_zero_and_give_no_output(tmp_path):
    model = _model(tmp_path)
    flair, t2 = brain_volume(seed=1), brain_volume(seed=3)
    spy = ChannelSpy(3, 3, ceiling=0.0)
    spy.load_state_dict(model.network("a2n", "cpu").state_dict())
    model._cache[("a2n", "cpu")] = spy.eval()
    result = run_model([flair, None, t2], model, device="cpu")
    assert result.outputs[1] is None and result.outputs[0] is not None and result.outputs[2] is not None
    # t1 went in as 0 in data intensities (-1 in the network's range), as training dropped it
    assert (spy.seen[:, 1] == -1).all()
    assert (spy.seen[:, 0] > -1).any() and (spy.seen[:, 2] > -1).any()
    assert result.mask.array.any()  # the bright blob of the flair is still found
    # a lone volume is the first modality, the rest absent; the same as naming them None
    alone, padded = run_model(flair, model, device="cpu"), run_model([flair, None, None], model, device="cpu")
    assert np.array_equal(alone.output.array, padded.output.array)
    assert alone.outputs[1:] == (None, None)


def test_an_absent_sequence_has_no_say_in_the_difference_map(tmp_path):
    model = _model(tmp_path)
    shifts_t1 = CeilingGenerator(3, 3, ceiling=1.0)  # identity, but every t1 pixel raised
    with torch.no_grad():
        shifts_t1.mix.bias[1] = 0.5
    model._cache[("a2n", "cpu")] = shifts_t1.eval()
    flair = brain_volume(seed=1)
    given = run_model([flair, brain_volume(seed=2), brain_volume(seed=3)], model, device="cpu", min_component_size=0)
    assert given.difference.array.max() > 0.2
    absent = run_model([flair, None, brain_volume(seed=3)], model, device="cpu")
    assert absent.difference.array.max() < 1e-5 and not absent.mask.array.any()


def test_a_model_without_optional_sequences_still_needs_all(tmp_path):
    model = _model(tmp_path, optional=())
    with pytest.raises(ModelFileError, match="3 channel"):
        run_model(brain_volume(), model, device="cpu")
    with pytest.raises(VolumeError, match="volume 1"):
        run_model([brain_volume(), None, brain_volume()], model, device="cpu")


def test_only_the_named_sequences_may_be_absent(tmp_path):
    model = _model(tmp_path, optional=("t2",))
    with pytest.raises(VolumeError, match="t1.*is missing.*needs flair, t1"):
        run_model([brain_volume(), None, brain_volume()], model, device="cpu")
    with pytest.raises(VolumeError, match="flair"):
        run_model([None, brain_volume(), brain_volume()], model, device="cpu")


def test_a_file_may_only_name_later_modalities_optional(tmp_path):
    with pytest.raises(ModelFileError, match="optional modalities"):
        load_model(write_model(tmp_path / "bad.pt", modalities=MODALITIES, conventions={"optional_modalities": ["flair"]}))
    with pytest.raises(ModelFileError, match="optional modalities"):
        load_model(write_model(tmp_path / "bad2.pt", modalities=MODALITIES, conventions={"optional_modalities": "t1"}))


def test_cases_keep_the_sequences_they_have(tmp_path):
    for name in ("a_flair", "a_t2", "b_flair", "b_t1", "b_t2"):
        (tmp_path / f"{name}.nii.gz").write_bytes(b"")
    files = sorted(tmp_path.glob("*_flair.nii.gz"))
    cases = group_cases(files, list(MODALITIES), optional=("t1", "t2"))
    assert cases == [[tmp_path / "a_flair.nii.gz", None, tmp_path / "a_t2.nii.gz"],
                     [tmp_path / "b_flair.nii.gz", tmp_path / "b_t1.nii.gz", tmp_path / "b_t2.nii.gz"]]
    assert set(output_paths(Case.of_files(cases[0]), tmp_path / "out")) == {"healthy 0", "healthy 2", "diff", "mask"}
    lone = tmp_path / "scan.nii.gz"
    lone.write_bytes(b"")
    assert group_cases([lone], list(MODALITIES), optional=("t1", "t2")) == [[lone, None, None]]
    from lesiongan.errors import LayoutError
    with pytest.raises(LayoutError, match="sibling"):
        group_cases(files, list(MODALITIES))  # no sequence optional: a missing t1 is an error


def test_dropping_keeps_the_first_channel_and_zeroes_the_same_channels_of_aligned_tensors():
    g = torch.Generator().manual_seed(0)
    lesion, twin = torch.rand(64, 3, 8, 8) + 0.1, torch.rand(64, 3, 8, 8) + 0.1
    dropped_lesion, dropped_twin = SliceAugmentation(drop_modalities=0.5).drop_channels([lesion, twin], g)
    gone = dropped_lesion.flatten(2).amax(-1) == 0
    assert torch.equal(gone, dropped_twin.flatten(2).amax(-1) == 0)  # the same channels in both
    assert not gone[:, 0].any() and gone[:, 1:].any() and not gone[:, 1:].all()
    kept = ~gone[:, :, None, None].expand_as(lesion)
    assert torch.equal(dropped_lesion[kept], lesion[kept])
    assert SliceAugmentation().drop_channels([lesion], g)[0] is lesion  # off by default
    with pytest.raises(InputError, match="drop_modalities"):
        SliceAugmentation(drop_modalities=1.5)


def test_infer_runs_a_lone_flair_through_a_model_that_can_do_without_the_rest(tmp_path):
    from lesiongan.cli import main
    from lesiongan.data.volume import read_volume, write_volume

    model_path = write_model(tmp_path / "m.pt", modalities=MODALITIES, ceiling=0.0,
                             conventions={"optional_modalities": ["t1", "t2"]})
    source = tmp_path / "in" / "scan.nii.gz"
    source.parent.mkdir()
    write_volume(brain_volume(seed=4), source)
    before = source.read_bytes()
    assert main(["infer", "--model", str(model_path), "--input", str(source), "--output-dir", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["scan_diff.nii.gz", "scan_healthy.nii.gz", "scan_mask.nii.gz"]
    assert read_volume(tmp_path / "out" / "scan_mask.nii.gz", allow_empty=True).array.any()
    assert source.read_bytes() == before


def test_the_four_sequence_demo_model_opens_by_name():
    model = load_model("demo_antgan_brain")
    assert model.modalities == ["flair", "t1", "t2", "t1ce"] and model.optional_modalities == ["t1", "t2", "t1ce"]
    with pytest.raises(ModelFileError, match="known model name.*demo_antgan_brain"):
        load_model("no_such_model")


def test_painting_keeps_one_output_per_input_and_none_for_an_absent_sequence(tmp_path):
    from lesiongan.synthesis.paint import paint_lesion

    path = write_model(tmp_path / "r.pt", modalities=("flair", "t1"), extra_channels=1, role="reconstructor",
                       conventions={"optional_modalities": ["t1"]})
    flair = brain_volume(seed=5)
    region = np.zeros(flair.shape, np.uint8)
    region[5:7, 8:12, 8:12] = 1
    painted = paint_lesion([flair, None], flair.with_array(region), load_model(path), role="reconstructor",
                           device="cpu")
    assert len(painted.outputs) == 2 and painted.outputs[1] is None
    assert painted.outputs[0].same_grid(flair)


def test_dropping_sequences_needs_the_augmentation():
    from lesiongan.methods import get_method, resolve_options

    cls = get_method("antgan")
    options = resolve_options(cls, None, {"ngf": 4, "generator": "unet", "unet_depth": 2, "drop_modalities": 0.3})
    with pytest.raises(InputError, match="drop_modalities.*augment=true"):
        cls(options, channels=2, total_steps=2)
