"""The benchmark's pieces without training: rank-order comparison on made-up numbers, the
papers' numbers as data, the report's table, option checks, and the two supervised methods."""

from __future__ import annotations

import math

import pytest
import torch

from lesiongan.cli import main
from lesiongan.errors import InputError
from lesiongan.evaluation.benchmark import TABLE_ROWS, TABLES
from lesiongan.evaluation.benchmark_cli import parse_tables
from lesiongan.evaluation.benchmark_report import (best_row_check, compare_orderings, ordering_sentence, table_markdown,
                                                table_result)
from lesiongan.evaluation.paper_numbers import PAPER_TABLES, paper_values
from lesiongan.methods import get_method, resolve_options


def test_same_order_agrees_on_every_pair():
    result = compare_orderings({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 10.0, "b": 20.0, "c": 30.0})
    assert (result["agree"], result["pairs"], result["kendall_tau"]) == (3, 3, 1.0)
    assert result["rows"]["c"]["ours_rank"] == result["rows"]["c"]["paper_rank"] == 1
    assert ordering_sentence("a", result).startswith("agrees: rank 3 here, 3 in the paper; 2 of 2")


def test_reversed_order_disagrees_and_a_swap_partly_agrees():
    reversed_ = compare_orderings({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 10.0, "b": 20.0, "c": 30.0})
    assert (reversed_["agree"], reversed_["kendall_tau"]) == (0, -1.0)
    assert ordering_sentence("b", reversed_).startswith("disagrees")
    swapped = compare_orderings({"a": 1.0, "b": 3.0, "c": 2.0}, {"a": 10.0, "b": 20.0, "c": 30.0})
    assert swapped["agree"] == 2 and swapped["kendall_tau"] == pytest.approx(1 / 3)
    assert swapped["rows"]["a"] == {"ours_rank": 3, "paper_rank": 3, "agree": 2, "pairs": 2}
    assert ordering_sentence("b", swapped).startswith("partly agrees: rank 1 here, 2 in the paper; 1 of 2")


def test_rows_without_a_paper_number_or_a_score_are_left_out_and_lower_can_be_better():
    result = compare_orderings({"a": 1.0, "b": math.nan, "c": 5.0, "d": 0.0}, {"a": 2.0, "b": 1.0, "c": 1.0, "d": None},
                               higher_is_better=False)
    assert set(result["rows"]) == {"a", "c"} and result["pairs"] == 1 and result["agree"] == 0
    assert result["rows"]["a"]["ours_rank"] == 1 and result["rows"]["a"]["paper_rank"] == 2
    assert ordering_sentence("d", result) == "no paper number to order against"
    assert math.isnan(compare_orderings({"a": 1.0}, {"a": 1.0})["kendall_tau"])


def test_a_tie_agrees_only_with_a_tie():
    assert compare_orderings({"a": 1.0, "b": 1.0}, {"a": 5.0, "b": 5.0})["agree"] == 1
    assert compare_orderings({"a": 1.0, "b": 1.0}, {"a": 5.0, "b": 6.0})["agree"] == 0


def test_every_row_and_metric_the_report_needs_has_a_paper_entry_with_a_source():
    assert set(TABLE_ROWS) == set(TABLES) == set(PAPER_TABLES)
    for key, rows in TABLE_ROWS.items():
        table = PAPER_TABLES[key]
        assert tuple(table.rows) == rows, key
        for row in rows:
            for metric in table.metrics:
                entry = table.rows[row][metric]
                assert entry.source, (key, row, metric)
                # A missing number says why.
                assert entry.value is not None or entry.note, (key, row, metric)


def test_paper_numbers_are_the_tables_values():
    assert paper_values("table4", "psnr_nonlesion") == {"gan": None, "gan+ac": None, "gan+nc": None, "cyclegan": 21.34,
                                                        "cyclegan+shortcut": 27.29, "antgan": 28.44, "twin-gate": None}
    assert paper_values("xia1", "identity") == {"cgan": 0.74, "cyclegan": 0.80, "phs-unpaired": 0.83, "phs-paired": 0.88}
    assert paper_values("table6", "f1") == {"plain-vgg": 0.896, "ant-vgg": 0.917}
    assert paper_values("table7", "recall")["real+synthetic"] == pytest.approx(0.7794)
    # Each table with numbers has the ordering the paper argues for: the proposed row is best.
    for key, best in (("table4", "antgan"), ("xia1", "phs-paired"), ("table5", "ant-unet"), ("table6", "ant-vgg"),
                      ("table7", "real+synthetic")):
        for metric in PAPER_TABLES[key].metrics:
            values = {row: v for row, v in paper_values(key, metric).items() if v is not None}
            assert max(values, key=values.__getitem__) == best, (key, metric)


def test_report_table_sets_the_paper_number_beside_ours_and_states_the_ordering():
    ours = {row: {"psnr_nonlesion": 20.0 + i, "psnr_lesion": 15.0} for i, row in enumerate(TABLE_ROWS["table4"])}
    ours["cyclegan+shortcut"]["psnr_nonlesion"] = 40.0  # above ANT-GAN: one pair out of order
    result = table_result("table4", ours)
    text = table_markdown("table4", result)
    assert "| cyclegan | 21.340 | 23.000 | 15.000 |" in text
    assert "| gan | not given | 20.000 |" in text
    assert "2 of 3 pairs as in the paper" in text
    assert "- antgan: partly agrees: rank 2 here, 1 in the paper; 1 of 2 pairs" in text
    assert "- gan: paper: shown only as images in Fig. 5" in text


def test_best_row_claim_of_fig12_is_checked():
    table = PAPER_TABLES["fig12"]
    ours = {row: {"psnr_truth": value} for row, value in zip(TABLE_ROWS["fig12"], (30.0, 31.0, 33.0, 32.0))}
    assert best_row_check(table, ours) == {"metric": "psnr_truth", "expected": "am10", "ours": "am10", "agrees": True}
    ours["am100"]["psnr_truth"] = 34.0
    assert best_row_check(table, ours)["agrees"] is False


def test_only_accepts_known_tables_in_the_papers_order():
    assert parse_tables("table7,table4") == ["table4", "table7"]
    with pytest.raises(InputError, match="table9"):
        parse_tables("table4,table9")
    with pytest.raises(InputError, match="--only"):
        parse_tables(" , ")


def test_cli_refuses_an_unknown_table_before_doing_anything(tmp_path, capsys):
    assert main(["benchmark", "--out", str(tmp_path / "b"), "--only", "table8"]) == 1
    assert "table8" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("method, role", [("segmentation", "segmentor"), ("classification", "classifier")])
def test_supervised_methods_learn_a_trivial_task(method, role):
    """One bright square means 'lesion': a few steps must lower the loss."""
    torch.manual_seed(0)
    cls = get_method(method)
    instance = cls(resolve_options(cls, "small"), channels=2)
    assert set(instance.roles) == {role}
    images = torch.full((8, 2, 16, 16), -1.0)
    masks = torch.zeros(8, 1, 16, 16)
    images[:4, :, 4:10, 4:10], masks[:4, :, 4:10, 4:10] = 1.0, 1.0
    batch = {"images": images, "masks": masks, "labels": (masks.flatten(1).amax(1) > 0).float()}
    first = last = None
    for step in range(30):
        losses = instance.train_step(batch, step)
        first = first or losses
        last = losses
    key = "bce"
    assert last[key] < 0.7 * first[key]
