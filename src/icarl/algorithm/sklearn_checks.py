"""The checks of scikit-learn's ``check_estimator`` that cannot apply to icarl's estimators,
each with its reason: pass them as ``expected_failed_checks`` (scikit-learn 1.6 or later)::

    check_estimator(ICaRL(backbone="mlp", epochs=1), expected_failed_checks=ICARL_EXEMPT)
    check_estimator(NearestMeanClassifier(), expected_failed_checks=NEAREST_MEAN_EXEMPT)

Every other check passes; tests/test_sklearn_checks.py runs both, so a new failure (or an
exemption that no longer fails) is caught, and docs/sklearn.md lists these with their reasons.
"""

from __future__ import annotations

IMAGES = (
    "ICaRL learns images, (N, C, H, W), (N, H, W, C) or (N, H, W), uint8 or floats in [0, 1] "
    "(its exemplars are kept as uint8 images), and refuses anything else in one line; the check "
    "fits tabular data: (n_samples, n_features) floats, mostly outside [0, 1]. The properties it "
    "checks are tested on images instead (tests/test_sklearn_checks.py)"
)
ICARL_EXEMPT: dict[str, str] = {
    name: IMAGES
    for name in (
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_estimators_empty_data_messages",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_classifier_data_not_an_array",
        "check_classifiers_one_label",
        "check_classifiers_classes",
        "check_classifiers_train",
        "check_supervised_y_2d",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    )
} | {
    "check_no_attributes_set_in_init": (
        "an unfitted learner shows its empty learned state (classes_ of length 0, an empty memory_, "
        "history_) and the backbone module it was given (backbone_object), so code can inspect it "
        "before fit; whether it is fitted is __sklearn_is_fitted__ (a network exists)"
    ),
    "check_do_not_raise_errors_in_init_or_set_params": (
        "parameters are checked where they are set (the constructor and set_params, through the one "
        "resolver), so a bad value is refused in one line on the line that gave it, not later in fit"
    ),
    "check_estimators_partial_fit_n_features": (
        "partial_fit is class-incremental: each call brings new classes, so it takes no classes= list "
        "of every class up front; and the check's data are tabular (see the other checks)"
    ),
    "check_complex_data": (
        "complex images are refused with a ValueError in icarl's words (images have dtype complex128; "
        "give uint8 ...), not scikit-learn's 'Complex data not supported'"
    ),
}
BINARY = (
    "decision_function gives one cosine per class for two classes too: icarl's one score "
    "definition (ICaRL.decision_function, icarl predict and the exported programs give the same "
    "numbers); scikit-learn's binary convention is one column, the score of classes_[1]. With that "
    "column (s[:, 1] - s[:, 0]) every check passes (tests/test_sklearn_checks.py)"
)
NEAREST_MEAN_EXEMPT: dict[str, str] = {"check_classifiers_train": BINARY, "check_classifiers_classes": BINARY}
