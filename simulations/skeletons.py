"""Skeletons on the Rashomon ridge (seed post 004, "Finding Skeletons on Rashomon Ridge").

Two networks trained from different seeds are L1 fine-tuned with five (strength, epochs)
recipes; two more are trained from scratch with L1; all 14 are pruned at thresholds 0 (none),
0.01, 0.02, 0.05: 56 models, compared as in the post by the mean cosine similarity of their
softmax vectors on an out-of-distribution set. Beyond the post: in-distribution accuracy
retention, the Jaccard overlap of the surviving weights of the two starts before and after
aligning hidden units (Hungarian match on weights and on activations), the loss barrier on the
straight path between them and on the low-loss (Rashomon) path of :func:`slt.nn.skeleton.path_barrier`
(raw and aligned on weights), and the SLT view: the LLC of each original and of each skeleton
restricted to its surviving weights, and the near-zero Hessian counts before and after.

Settings: ``digits`` (default; scikit-learn's 8×8 digits in distribution, an MLP 64-h-10; out of
distribution the same digits with every image's pixels shuffled, a second set Gaussian with the
digits' pixel mean and covariance) and ``cifar`` (the post's: a small CNN on CIFAR-10 from local
python batches, MNIST from local idx files out of distribution; ``--data-dir``, ``--mnist-dir``).

    python simulations/skeletons.py [--quick] [--out DIR] [--setting digits|cifar]

Every trained model is saved in ``DIR/models`` and every measurement appended to
``DIR/skeletons_runs.jsonl``: rerunning the command resumes. Outputs: ``skeletons.json``
(configuration, labels, per-model metrics, pair and LLC records, summary) and ``skeletons.npz``
(similarity matrices, accuracies, densities).
"""
from __future__ import annotations

import argparse
import time
import zlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slt.io import ResumableLog, save_json, save_npz
from slt.nn import prune as P
from slt.nn import skeleton as S
from slt.nn.models import train
from slt.report import Column, number, table

NAME = "skeletons"
CE = nn.functional.cross_entropy
CONFIG = {
    "full": {"hidden": 32, "epochs": 150, "lr": 1e-3, "batch_size": 64, "l1_lr": 0.05,
             "recipes": [[1e-3, 50], [1e-3, 100], [3e-3, 75], [1e-2, 25], [1e-2, 75]],
             "scratch": [[1e-3, 150], [1e-3, 225]], "thresholds": [0.0, 0.01, 0.02, 0.05],
             "llc": {"num_chains": 8, "num_draws": 400, "num_burnin": 400, "gamma": 100.0, "batch_size": 256},
             "llc_models": ["s0-base", "s0-r4", "s1-base", "s1-r4"], "retrain_epochs": 30, "max_hessian_dim": 4000,
             "path": {"num_points": 17, "steps": 200, "lr": 1e-2, "resolution": 4, "max_samples": 5000}},
    "quick": {"hidden": 12, "epochs": 30, "lr": 3e-3, "batch_size": 128, "l1_lr": 0.05,
              "recipes": [[3e-3, 10], [1e-2, 10]], "scratch": [[3e-3, 30]], "thresholds": [0.0, 0.05],
              "llc": {"num_chains": 2, "num_draws": 40, "num_burnin": 40, "gamma": 100.0, "batch_size": 256},
              "llc_models": ["s0-r1"], "retrain_epochs": 5, "max_hessian_dim": 1000,
              "path": {"num_points": 9, "steps": 60, "lr": 1e-2, "resolution": 4, "max_samples": 5000}},
}


@dataclass(frozen=True)
class Problem:
    """Train/test data, the OOD sets, and the architecture of one setting."""

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    ood: dict[str, torch.Tensor]
    setting: str
    hidden: int

    def model(self, seed: int) -> nn.Sequential:
        torch.manual_seed(seed)
        if self.setting == "cifar":
            from slt.nn.models import small_cnn

            return small_cnn(3, 10, width=self.hidden, seed=seed)
        d = int(np.prod(self.train[0].shape[1:]))
        return nn.Sequential(nn.Flatten(), nn.Linear(d, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 10))


def digits_problem(hidden: int, seed: int = 0) -> Problem:
    """Digits split 75/25; OOD: pixels shuffled within each image, and Gaussian noise with the
    digits' pixel mean and covariance (:func:`slt.nn.datasets_local.ood_digits`)."""
    from slt.nn.data import load_digits
    from slt.nn.datasets_local import ood_digits

    X, y = load_digits()
    perm = torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(seed))
    cut = int(0.75 * X.shape[0])
    tr, te = perm[:cut], perm[cut:]
    ood = {kind: ood_digits(X[te], kind=kind, seed=seed) for kind in ("shuffled", "gaussian")}
    return Problem((X[tr], y[tr]), (X[te], y[te]), ood, "digits", hidden)


def cifar_problem(hidden: int, data_dir: str | None, mnist_dir: str | None, limit: int | None) -> Problem:
    """CIFAR-10 (local python batches) in distribution, MNIST (local idx files, padded to
    3×32×32) out of distribution: the seed post's setting."""
    from slt.nn.data import load_cifar10
    from slt.nn.datasets_local import load_mnist

    train_set = load_cifar10(data_dir, train=True, limit=limit)
    test_set = load_cifar10(data_dir, train=False, limit=None if limit is None else max(limit // 5, 1))
    mnist, _ = load_mnist(mnist_dir, train=False, limit=limit, size=32, channels=3)
    return Problem(train_set, test_set, {"mnist": mnist}, "cifar", hidden)


def unpruned_specs(cfg: dict) -> list[dict]:
    """The 14 (quick: fewer) unpruned models in the post's order: per start the base model and
    its L1 fine-tunes, then the models trained from scratch with L1."""
    specs = []
    for s in (0, 1):
        specs.append({"key": f"s{s}-base", "start": s, "strength": 0.0, "epochs": cfg["epochs"], "from": "init"})
        for r, (a, e) in enumerate(cfg["recipes"]):
            specs.append({"key": f"s{s}-r{r}", "start": s, "strength": a, "epochs": e, "from": f"s{s}-base"})
    for i, (a, e) in enumerate(cfg["scratch"]):
        specs.append({"key": f"scratch{i}", "start": 2 + i, "strength": a, "epochs": e, "from": "init"})
    return specs


def trained(spec: dict, problem: Problem, cfg: dict, folder: Path, cache: dict) -> nn.Module:
    """The unpruned model of ``spec``, from ``folder/models`` or trained now (and saved)."""
    if spec["key"] in cache:
        return cache[spec["key"]]
    path = folder / "models" / f"{spec['key']}.pt"
    model = problem.model(spec["start"])
    if path.exists():
        model.load_state_dict(torch.load(path))
    elif spec["from"] == "init" and spec["strength"] == 0:
        train(model, problem.train, loss_fn=CE, lr=cfg["lr"], epochs=spec["epochs"], batch_size=cfg["batch_size"],
              seed=spec["start"])
    else:
        start = model if spec["from"] == "init" else cache[spec["from"]]
        model = P.l1_finetune(start, problem.train, loss_fn=CE, strength=spec["strength"], epochs=spec["epochs"],
                              lr=cfg["l1_lr"], batch_size=cfg["batch_size"], seed=spec["start"] + 100)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    cache[spec["key"]] = model.eval()
    return model


def label(spec: dict, threshold: float) -> str:
    where = "scratch" if spec["from"] == "init" and spec["strength"] else f"model {spec['start'] + 1}"
    l1 = "no L1" if not spec["strength"] else f"L1 {spec['strength']:g}×{spec['epochs']}ep"
    return f"{where}, {l1}, " + (f"|w|<{threshold:g} pruned" if threshold else "unpruned")


def model_records(models: list[nn.Module], originals: list[nn.Module], problem: Problem) -> list[dict]:
    """Accuracy/loss on train and test, retention against the unpruned original, density."""
    out = []
    for m, o in zip(models, originals):
        r = P.retention(o, m, problem.test)
        tr_acc, tr_loss = P.evaluate(m, problem.train)
        out.append({"test_accuracy": r.accuracy_pruned, "test_loss": r.loss_pruned, "accuracy_ratio": r.accuracy_ratio,
                    "loss_increase": r.loss_increase, "train_accuracy": tr_acc, "train_loss": tr_loss,
                    "density": P.density(m)})
    return out


def pair_record(a: nn.Module, b: nn.Module, problem: Problem, path: dict) -> dict:
    """Mask overlap and loss barriers between two skeletons, raw and after alignment: on the
    straight path, and (raw, aligned on weights) on the low-loss path with the settings ``path``
    (its loss on the first ``max_samples`` training samples: every image of the string is a
    full-batch gradient per iteration), whose ``path_linear_*`` is the straight line's barrier
    on the same points and samples."""
    X = problem.train[0]
    rec = {"jaccard_raw": P.mask_overlap(a, b).total, "barrier_raw": S.loss_barrier(a, b, problem.train).barrier}
    others = {"raw": b}
    for method in ("weights", "activations"):
        others[method] = aligned = S.align(a, b, method=method, X=X)
        ov = P.mask_overlap(a, aligned)
        rec[f"jaccard_{method}"] = ov.total
        rec[f"barrier_{method}"] = S.loss_barrier(a, aligned, problem.train).barrier
        rec["jaccard_random"] = ov.expected_random
    settings = {k: v for k, v in path.items() if k != "max_samples"}
    subset = tuple(t[: path["max_samples"]] for t in problem.train)
    for name in ("raw", "weights"):
        found = S.path_barrier(a, others[name], subset, loss_fn=CE, **settings)
        rec.update({f"path_barrier_{name}": found.barrier, f"path_linear_{name}": found.linear_barrier,
                    f"path_rise_{name}": found.rise, f"path_length_{name}": found.length,
                    f"path_iteration_{name}": found.best_iteration})
    return rec


def retrain(model: nn.Module, problem: Problem, cfg: dict) -> nn.Module:
    """The skeleton's surviving weights fine-tuned without L1, pruned ones held at zero (by
    the masks, or by the exact zeros of proximal L1 made into masks): an L1 fine-tune stops
    at a minimum of L + α‖w‖₁, not of L, and the LLC is defined at a minimum of L."""
    from torch.nn.utils import prune as tprune

    held, kept = P.make_permanent(model), P.masks(model)
    for name, module, attr in P.targets(held):
        tprune.custom_from_mask(module, attr, mask=kept[name])
    return P.l1_finetune(held, problem.train, loss_fn=CE, strength=0.0, epochs=cfg["retrain_epochs"],
                         lr=cfg["l1_lr"], batch_size=cfg["batch_size"], seed=7)


def llc_record(model: nn.Module, problem: Problem, cfg: dict, seed: int, full: bool) -> dict:
    """Skeleton LLC (restricted to the surviving weights: exact zeros held too), with ``full``
    also the plain LLC sampling every coordinate, and the near-zero Hessian counts."""
    from slt.nn import estimate_llc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = S.skeleton_llc(model, problem.train, loss_fn=CE, seed=seed, **cfg["llc"])
        plain = estimate_llc(model, problem.train, loss_fn=CE, seed=seed, **cfg["llc"]) if full else None
    rec = {"llc_mean": float(res.result.mean), "llc_se": float(res.result.se), "free": res.free, "held": res.held,
           "route": res.route, "llc_warnings": list(res.result.warnings),
           "llc_full_mean": None if plain is None else float(plain.mean),
           "llc_full_se": None if plain is None else float(plain.se)}
    dim = sum(p.numel() for p in P.make_permanent(model).parameters())
    if dim <= cfg["max_hessian_dim"]:
        c = S.near_zero_counts(model, problem.train, loss_fn=CE)
        rec.update({"dim": c.dim, "near_zero": c.near_zero, "near_zero_free": c.near_zero_free})
    return rec


def summarise(records: dict, pairs: list[dict], S_ood: np.ndarray, keys: list[str], thresholds: list[float]) -> dict:
    """Similarity between starts vs within a start per threshold, and mean pair overlaps."""
    starts = np.array([k.split("|")[0][:2] for k in keys])
    thr = np.array([float(k.split("|")[1]) for k in keys])
    out = {}
    for t in thresholds:
        i = np.flatnonzero((thr == t) & np.isin(starts, ["s0", "s1"]))
        sub, st = S_ood[np.ix_(i, i)], starts[i]
        same = (st[:, None] == st[None, :]) & ~np.eye(i.size, dtype=bool)
        cross = st[:, None] != st[None, :]
        ps = [p for p in pairs if p["threshold"] == t]
        out[f"{t:g}"] = {
            "ood_similarity_within_start": float(sub[same].mean()) if same.any() else None,
            "ood_similarity_between_starts": float(sub[cross].mean()) if cross.any() else None,
            **{k: float(np.mean([p[k] for p in ps])) for k in ("jaccard_raw", "jaccard_weights",
                                                               "jaccard_activations", "jaccard_random",
                                                               "barrier_raw", "barrier_weights",
                                                               "path_barrier_raw", "path_barrier_weights")
                 if ps and all(k in p for p in ps)},
        }
    out["min_ood_similarity"] = float(S_ood.min())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a reduced grid (seconds)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / NAME))
    ap.add_argument("--setting", choices=("digits", "cifar"), default="digits")
    ap.add_argument("--data-dir", default=None, help="CIFAR-10 python batches (setting cifar)")
    ap.add_argument("--mnist-dir", default=None, help="MNIST idx files (setting cifar)")
    ap.add_argument("--limit", type=int, default=None, help="cifar: use the first LIMIT images")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = CONFIG["quick" if args.quick else "full"]
    out = Path(args.out)
    problem = (digits_problem(cfg["hidden"]) if args.setting == "digits"
               else cifar_problem(cfg["hidden"], args.data_dir, args.mnist_dir, args.limit))
    from tqdm.auto import tqdm

    t0 = time.time()
    specs, cache = unpruned_specs(cfg), {}
    for spec in tqdm(specs, desc=f"{NAME}: train", disable=args.no_progress):
        trained(spec, problem, cfg, out, cache)
    keys, models, originals, labels = [], [], [], []
    for t in cfg["thresholds"]:
        for spec in specs:
            base = cache[spec["key"]]
            keys.append(f"{spec['key']}|{t:g}")
            models.append(P.magnitude_prune(base, threshold=t) if t else base)
            originals.append(base)
            labels.append(label(spec, t))
    records = model_records(models, originals, problem)
    sims = {kind: P.ood_similarity(models, X) for kind, X in problem.ood.items()}
    sims.update({f"{kind}_logits": P.ood_similarity(models, X, outputs="logits") for kind, X in problem.ood.items()})
    sims["in_distribution"] = P.ood_similarity(models, problem.test[0])
    for rec, m in zip(records, models):  # confidence off distribution: softer outputs look more alike
        probs = P.predict(m, next(iter(problem.ood.values()))).softmax(dim=1)
        rec["ood_entropy"] = float(-(probs * probs.clamp_min(1e-30).log()).sum(dim=1).mean())
    log = ResumableLog(out / f"{NAME}_runs.jsonl")
    done = {k for k, r in ((r["key"], r) for r in log.records()) if r["kind"] != "pair" or "path_barrier_raw" in r}
    index = {k: i for i, k in enumerate(keys)}
    todo = [("pair", spec["key"][3:], t) for t in cfg["thresholds"] for spec in specs if spec["key"].startswith("s0-")]
    todo += [("llc", k, t) for k in cfg["llc_models"] for t in cfg["thresholds"]]
    todo += [("retrained", k, t) for k in cfg["llc_models"] if "-r" in k for t in cfg["thresholds"]]
    for kind, k, t in tqdm(todo, desc=f"{NAME}: compare", disable=args.no_progress):
        key = f"{kind}|{k}|{t:g}"
        if key in done:
            continue
        if kind == "pair":
            rec = pair_record(models[index[f"s0-{k}|{t:g}"]], models[index[f"s1-{k}|{t:g}"]], problem, cfg["path"])
        else:
            model = models[index[f"{k}|{t:g}"]]
            if kind == "retrained":
                model = retrain(model, problem, cfg)
            rec = llc_record(model, problem, cfg, seed=zlib.crc32(key.encode()), full=t == 0)
            rec.update(zip(("test_accuracy", "test_loss"), P.evaluate(model, problem.test)))
            rec["train_loss"] = P.evaluate(model, problem.train)[1]
        log.append({"key": key, "kind": kind, "model": k, "threshold": t, **rec})
    runs = {r["key"]: r for r in log.records()}
    pairs = [r for r in runs.values() if r["kind"] == "pair"]
    llcs = [r for r in runs.values() if r["kind"] in ("llc", "retrained")]
    main_ood = next(iter(problem.ood))
    summary = summarise(records, pairs, sims[main_ood], keys, cfg["thresholds"])
    save_json(out / f"{NAME}.json", {"setting": args.setting, "config": cfg, "ood": list(problem.ood), "keys": keys,
                                     "labels": labels, "models": records, "pairs": pairs, "llc": llcs,
                                     "summary": summary, "seconds_this_call": time.time() - t0})
    save_npz(out / f"{NAME}.npz", thresholds=np.array(cfg["thresholds"]),
             **{f"similarity_{k}": v for k, v in sims.items()},
             test_accuracy=np.array([r["test_accuracy"] for r in records]),
             density=np.array([r["density"] for r in records]),
             ood_entropy=np.array([r["ood_entropy"] for r in records]))
    print(summary_table(summary))
    return 0


def summary_table(summary: dict) -> str:
    """The per-threshold summary as a short table (similarities are mean cosines, barriers in loss units)."""
    cols = [Column("threshold"), Column("ood_similarity_within_start", "OOD sim. within start", digits=3),
            Column("ood_similarity_between_starts", "between starts", digits=3),
            Column("jaccard_raw", "Jaccard raw", digits=3), Column("jaccard_weights", "aligned", digits=3),
            Column("barrier_raw", "barrier raw", "loss", digits=3),
            Column("path_barrier_raw", "on low-loss path", "loss", digits=3)]
    rows = [{"threshold": t, **v} for t, v in summary.items() if isinstance(v, dict)]
    cols = [c for c in cols if any(c.key in r for r in rows)]
    return (table(rows, cols, title="skeletons: per pruning threshold (mean over pairs of starts)")
            + f"\nlowest OOD similarity of any pair: {number(summary['min_ood_similarity'], digits=3)}")


if __name__ == "__main__":
    raise SystemExit(main())
