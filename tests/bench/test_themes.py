import numpy as np

from scenewright.bench.themes import SYNONYMS, THEMES, label_from_name, pick_label
from scenewright.library.categories import CATEGORIES


def test_themes_name_known_categories():
    for theme, entries in THEMES.items():
        for category, lo, hi, p in entries:
            assert category in CATEGORIES, (theme, category)
            assert 1 <= lo <= hi and 0 < p <= 1
    assert set(SYNONYMS) == set(CATEGORIES)


def test_labels_read_like_words():
    assert label_from_name("bedsideTable2") == "bedside table"
    assert label_from_name("IKEA-K30 chair (2)") == "ikea chair"
    rng = np.random.default_rng(0)
    labels = {pick_label(rng, "sofa", "winchesterSofa", p_name=0.5) for _ in range(50)}
    assert "winchester sofa" in labels and labels & {"sofa", "couch", "settee"}
    # a name that does not say what the thing is never becomes the label
    assert all(pick_label(rng, "plant", "augalas", p_name=1.0) in SYNONYMS["plant"] for _ in range(20))


def test_small_things_leave_the_gt_with_their_support():
    from types import SimpleNamespace

    from scenewright.bench.generate import visible_instances
    placed = [SimpleNamespace(support=None), SimpleNamespace(support=0), SimpleNamespace(support=None),
              SimpleNamespace(support=2)]
    counts = np.array([10, 500, 400, 300])
    assert visible_instances(placed, counts, 100).tolist() == [False, False, True, True]
