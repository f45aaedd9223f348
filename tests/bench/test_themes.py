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


def test_bed_labels_state_only_the_size_the_bed_has():
    from scenewright.bench.themes import label_fits_footprint
    from scenewright.methods.layout.labels import label_min_footprint
    hospital_bed, double_bed, crib = (1.0, 2.1), (2.16, 1.7), (0.73, 1.24)
    assert not label_fits_footprint("double bed", hospital_bed)
    assert label_fits_footprint("single bed", hospital_bed)
    assert label_fits_footprint("double bed", double_bed) and not label_fits_footprint("single bed", double_bed)
    assert not label_fits_footprint("single bed", crib) and label_fits_footprint("bed", crib)
    # whatever is drawn, a bed's label never states a footprint the method would exclude it by
    for footprint in (hospital_bed, double_bed, crib, (1.32, 2.15)):
        rng = np.random.default_rng(1)
        labels = {pick_label(rng, "bed", "bed", p_name=0.0, footprint=footprint) for _ in range(60)}
        assert labels <= set(SYNONYMS["bed"]) and "bed" in labels
        for label in labels:
            need = label_min_footprint(label)
            assert need is None or (min(footprint) >= need[0] and max(footprint) >= need[1]), (label, footprint)
    # the footprint never changes the random draws, so the rest of a scene stays the same
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(30):
        pick_label(a, "bed", "hospitalBed", footprint=hospital_bed)
        pick_label(b, "bed", "hospitalBed")
    assert a.random() == b.random()
