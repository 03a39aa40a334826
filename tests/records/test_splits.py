"""OpenAI's interleaved splits (docs/science.md#splits)."""

from tools.records.splits import Split, select_split, split_indices


def test_golden_indices_with_five_per_split() -> None:
    """The golden indices of docs/science.md#splits."""
    assert split_indices(Split.TRAIN, 20, 15, 5).top == (0, 4, 8, 12, 16)
    assert split_indices(Split.TRAIN, 20, 15, 5).random == ()
    valid = split_indices(Split.SELECTION, 20, 15, 5)
    assert (valid.top, valid.random) == ((2, 6, 10, 14, 18), (1, 4, 7, 10, 13))
    test = split_indices(Split.HELDOUT, 20, 15, 5)
    assert (test.top, test.random) == ((3, 7, 11, 15, 19), (2, 5, 8, 11, 14))
    calibration = split_indices(Split.CALIBRATION, 20, 15, 5)
    assert (calibration.top, calibration.random) == ((1, 5, 9, 13, 17), (0, 3, 6, 9, 12))


def test_splits_are_disjoint_and_cover_everything() -> None:
    n_top, n_random = 50, 50
    tops = [split_indices(s, n_top, n_random).top for s in Split]
    randoms = [split_indices(s, n_top, n_random).random for s in Split]
    flat_top = [i for part in tops for i in part]
    flat_random = [i for part in randoms for i in part]
    assert len(flat_top) == len(set(flat_top)) == 48  # 50 // 4 per split, as OpenAI's code does
    assert len(flat_random) == len(set(flat_random)) == 48


def test_select_split_puts_top_before_random() -> None:
    top = [f"t{i}" for i in range(20)]
    random = [f"r{i}" for i in range(15)]
    assert select_split(top, random, "test", 5) == ["t3", "t7", "t11", "t15", "t19", "r2", "r5", "r8", "r11", "r14"]
