"""Deploy, then learn later: train on some classes, save one model file, load it back (as a
deployed service would), predict, then teach it a class it has never seen and save it again.

    python examples/deploy_and_learn_later.py [--epochs 15] [--model digits.icarl]

The same from the command line: ``icarl run --save MODEL``, ``icarl predict MODEL IMAGES``,
``icarl learn MODEL NEW_IMAGES`` (docs/deploy.md).
"""

from __future__ import annotations

import argparse

import numpy as np

import icarl
from icarl import ICaRL, load_dataset

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--model", default="digits.icarl")
    args = p.parse_args()
    data = load_dataset("digits")
    x, y = data.train.x.numpy(), NAMES[data.train.y.numpy()]  # uint8 (N, C, H, W), names
    x_test, y_test = data.test.x.numpy(), NAMES[data.test.y.numpy()]

    # 1. train on six classes, two at a time, and save one file (weights, exemplars, names)
    learner = ICaRL(
        backbone="small_cnn", memory_size=120, epochs=args.epochs, batch_size=64, crop_pad=1, flip=False
    )
    for new in (["zero", "one"], ["two", "three"], ["four", "five"]):
        keep = np.isin(y, new)
        learner.partial_fit(x[keep], y[keep])
    learner.save(args.model)

    # 2. later, elsewhere: load it and predict; the loaded model answers as the saved one did
    model = icarl.load(args.model)
    known = np.isin(y_test, NAMES[:6])
    same = bool((model.predict(x_test[known]) == learner.predict(x_test[known])).all())
    print(f"loaded {args.model}: classes {' '.join(sorted(model.class_names_.values()))}")
    accuracy = model.score(x_test[known], y_test[known])
    print(f"  accuracy on the 6 classes {accuracy:.3f}; same answers as before saving: {same}")

    # 3. a class it has never seen: its images, by name; the memory makes room (m = K / t)
    six = y == "six"
    model.partial_fit(x[six], y[six])
    model.save(args.model)
    seen = np.isin(y_test, NAMES[:7])
    new_test = y_test == "six"
    print(f"learned 'six': accuracy on 7 classes {model.score(x_test[seen], y_test[seen]):.3f}, "
          f"on the new class {model.score(x_test[new_test], y_test[new_test]):.3f}; "
          f"exemplars held {len(model.memory_)} (K = {model.config.memory_size})")  # fmt: skip
    print(f"  predictions for five test images of a six: {' '.join(model.predict(x_test[new_test][:5]))}")


if __name__ == "__main__":
    main()
