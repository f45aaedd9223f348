"""Text → scene on a prompt suite: recall, counts, relations, attributes, plausibility, diversity, time.

    .venv/bin/python benchmarks/bench_text.py --library data/library [--seeds 3] [--out bench_text.json]

Every prompt is generated with ``--seeds`` seeds in one warm process (library, encoder and
matcher loaded once; load times reported apart). Impossible prompts must fail with a clear
``prompt: …`` message. Scores come from :mod:`scenewright.text.score` (code, not eyes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPTS = [
    # room types alone (defaults)
    "a bedroom", "a living room", "a dining room", "a home office", "a kitchen", "a bathroom", "a nursery",
    "a studio apartment",
    # counts
    "a dining room with a table and six chairs", "two armchairs and a coffee table", "three bookcases",
    "a pair of nightstands and a double bed", "four stools", "a sofa, two armchairs and a coffee table",
    "a bedroom with two single beds", "five plants", "a dozen chairs around a large table",
    "a place to sit for four",
    # paraphrases
    "a settee and a side table", "a couch facing a television", "a bedroom with a bedside table",
    "a study with a writing desk and a bookshelf", "a lounge with a loveseat", "a dresser and a closet",
    "somewhere to sleep and a wardrobe", "a fridge, a stove and a kitchen table",
    # attributes
    "a black leather sofa", "a white bed with two wooden nightstands", "a large wooden dining table with four chairs",
    "a small desk and a red chair", "a glass table and four black chairs", "a big grey sofa and a small coffee table",
    "a modern living room with a white sofa", "a rustic bedroom with a large bed", "a brown wooden wardrobe",
    "a green plant next to a blue armchair",
    # relations, each kind
    "a lamp on the desk", "a vase on the dining table", "a tv on the tv stand",
    "a nightstand next to the bed", "an armchair beside the sofa", "a floor lamp next to the armchair",
    "a coffee table in front of the sofa", "a chair in front of the desk",
    "a sofa facing the tv", "two sofas facing each other", "an armchair facing the fireplace",
    "a bookcase against the wall", "a desk against the wall", "a piano against a wall",
    "a plant in the corner", "an armchair in the corner", "a large plant in a corner of the living room",
    "six chairs around a dining table", "four chairs around the coffee table", "chairs around a round table",
    "a desk between two bookcases", "a nightstand between the bed and the wardrobe",
    "a cabinet between two armchairs",
    # long
    "A cozy living room featuring comfortable armchairs, a gallery wall, and a stylish coffee table",
    "a bedroom with a king size bed against the wall, two nightstands next to the bed with a lamp on each nightstand, "
    "a wardrobe in the corner and a desk with a chair in front of it",
    "a 5x4 m living room with a grey sofa against the wall facing a tv on a tv stand, a wooden coffee table in "
    "front of the sofa, two armchairs beside the coffee table and a plant in the corner",
    "an office with a desk between two bookcases, a chair in front of the desk, a lamp on the desk and a "
    "cabinet against the wall",
    "a dining room with a long table, eight chairs around it, a cabinet against the wall and a vase on the table",
]
IMPOSSIBLE = [
    "a dragon and a spaceship",
    "a sofa on the coffee table",
    "fifty beds",
    "a bedroom with three beds, two wardrobes, a piano and a sofa in a 2x2 m room",
    "",
    "a 40x3 m room with a chair",
]


def main(argv=None) -> int:
    from machine_info import machine as machine_info
    from scenewright.errors import InputError
    from scenewright.text.generate import GenerateSettings, TextToScene
    from scenewright.text.score import differ, layout_signature, score_scene

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default="data/library")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="first N prompts only")
    ap.add_argument("--out", default="bench_text.json")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    engine = TextToScene(args.library)
    load = {**engine.load_timings, "wall": round(time.perf_counter() - t0, 3)}
    prompts = PROMPTS[: args.limit] if args.limit else PROMPTS
    rows, seconds, totals = [], [], {k: [] for k in ("recall", "counts", "relations", "attributes")}
    pen = floating = outside = 0
    walk_ok, walk_n, diverse, diverse_n = 0, 0, 0, 0
    failures = []
    for n, prompt in enumerate(prompts):
        sigs = []
        for seed in range(args.seeds):
            t = time.perf_counter()
            try:
                req = engine.parse(prompt)
                gen = engine.make_scene(req, GenerateSettings(seed=seed))
            except InputError as exc:
                failures.append({"prompt": prompt, "seed": seed, "error": str(exc)})
                print(f"[{n + 1}/{len(prompts)}] FAILED seed {seed}: {prompt!r}: {exc}", flush=True)
                for k in ("recall", "counts"):
                    totals[k].append(False)
                continue
            dt = time.perf_counter() - t
            seconds.append(dt)
            sc = score_scene(gen, engine.looks, engine.lib)
            for k in totals:
                totals[k] += sc[k]
            pen += sc["interpenetrating_pairs"]
            floating += sc["floating"]
            outside += sc["outside_room"]
            walk_ok += sc["walkable"]
            walk_n += 1
            sigs.append(layout_signature(gen.scene))
            rows.append({"prompt": prompt, "seed": seed, "seconds": round(dt, 3), **sc})
        for i in range(len(sigs)):
            for j in range(i + 1, len(sigs)):
                diverse += differ(sigs[i], sigs[j])
                diverse_n += 1
        last = rows[-1] if rows else {}
        print(f"[{n + 1}/{len(prompts)}] {prompt[:60]!r}: {last.get('objects')} objects, "
              f"rel {sum(last.get('relations', []))}/{len(last.get('relations', []))}, "
              f"{last.get('seconds')} s", flush=True)
    impossible = []
    for prompt in IMPOSSIBLE:
        try:
            engine.make_scene(engine.parse(prompt), GenerateSettings(seed=0))
            impossible.append({"prompt": prompt, "refused": False, "message": None})
        except InputError as exc:
            impossible.append({"prompt": prompt, "refused": str(exc).startswith(("prompt:", "--room")),
                               "message": str(exc)})

    def pct(xs):
        return round(100.0 * sum(xs) / len(xs), 2) if xs else None

    summary = {
        "prompts": len(prompts), "seeds": args.seeds, "scenes": len(rows), "failed": len(failures),
        "recall_pct": pct(totals["recall"]), "count_pct": pct(totals["counts"]),
        "relations_pct": pct(totals["relations"]), "relations_n": len(totals["relations"]),
        "attributes_pct": pct(totals["attributes"]), "attributes_n": len(totals["attributes"]),
        "interpenetrating_pairs": pen, "floating": floating, "outside_room": outside,
        "walkable_pct": pct([1] * walk_ok + [0] * (walk_n - walk_ok)),
        "diversity_pct": round(100.0 * diverse / max(diverse_n, 1), 2),
        "median_s": round(statistics.median(seconds), 3) if seconds else None,
        "p90_s": round(sorted(seconds)[int(0.9 * (len(seconds) - 1))], 3) if seconds else None,
        "impossible_refused": f"{sum(i['refused'] for i in impossible)}/{len(impossible)}",
        "load_s": load, "library_assets": len(engine.lib.records),
    }
    print("\n| metric | value |\n|---|---|")
    for k, v in summary.items():
        print(f"| {k} | {v} |")
    for i in impossible:
        print(f"impossible {i['prompt']!r}: {'refused' if i['refused'] else 'NOT refused'}: {i['message']}")
    Path(args.out).write_text(json.dumps({"summary": summary, "machine": machine_info(), "settings": vars(args),
                                          "rows": rows, "failures": failures, "impossible": impossible},
                                         indent=1, default=str) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
