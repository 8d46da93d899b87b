"""The source-only baseline: can the label be read from where a training face came from?

When real and fake faces come from different sources, borders or resolutions, a detector can
learn those instead of the blend and fail on the first real video that looks like a fake's
source. This fits a classifier on traits of the *source* alone (which data set, the image's
native size, how much of the crop lies outside the image) and reports its cross-validated AUC
for the real-vs-fake label: about 0.5 means no source trait tells the classes apart.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

LEAK_AUC = 0.6  # a baseline above this means the mix leaks the label


def source_features(dataset, item: int) -> tuple[np.ndarray, int]:
    """Source traits of training item ``item`` and its label (see ``SwapTrainingSet``)."""
    crop, label, _, margin = dataset.sample(item)
    row = dataset.last_row
    names = dataset.source_names
    one_hot = np.zeros(len(names), np.float32)
    one_hot[names.index(str(dataset.index.sources[row]))] = 1.0
    side = float(max(dataset.last_side, 1))
    outside = float(np.mean(np.all(crop == 0, axis=2)))  # black borders where the image ends
    return np.concatenate([one_hot, [np.log(side), outside, margin]]).astype(np.float32), label


def source_baseline(dataset, folds: int = 5) -> dict:
    """Cross-validated AUC of a logistic regression on source traits for the label."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = [source_features(dataset, item)
            for item in tqdm(range(len(dataset)), desc="source baseline", unit="item")]
    features = np.stack([f for f, _ in rows])
    labels = np.array([label for _, label in rows])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    predicted = cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(labels, predicted))
    by_source = {}
    for position, name in enumerate(dataset.source_names):
        chosen = features[:, position] == 1
        by_source[name] = {"real": int(((labels == 0) & chosen).sum()),
                           "fake": int(((labels == 1) & chosen).sum())}
    return {"auc": round(auc, 4), "items": len(labels), "leaks": auc > LEAK_AUC,
            "features": "source one-hot, log native side, share outside the image, margin",
            "by_source": by_source}
