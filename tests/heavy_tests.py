"""The non-slow tests left out of the quick subset (``python -m pytest -m quick``, README):
those that cost more than about 1.2 s of CPU each, measured with one torch thread
(OMP_NUM_THREADS=1) by process CPU time per test, children included. conftest.py marks every
other non-slow test ``quick``; tests/test_quick_subset.py checks that each name here is a test.

The quick subset is about 580 of 675 tests and about 40 s of CPU; the full non-slow suite,
which CI runs, about 420 s.
"""

from __future__ import annotations

HEAVY: dict[str, tuple[str, ...]] = {
    "test_benchmarks_frozen.py": ("test_quick_mode_runs_the_three_variants_and_keeps_finished_runs",),
    "test_cli_startup.py": (
        "test_a_command_that_computes_still_loads_torch",
        "test_installed_plugins_are_listed_without_importing_them",
        "test_the_catalogue_says_what_the_registries_say",
    ),
    "test_cli_tools.py": ("test_export_images_and_pack_as_subcommands",),
    "test_core_learner.py": (
        "test_distillation_keeps_old_classes_better_than_finetuning",
        "test_memory_never_exceeds_K_and_holds_m_per_class_over_a_stream",
    ),
    "test_core_run.py": (
        "test_bad_input_exits_2_with_one_line",
        "test_flags_and_dotted_overrides_reach_the_config",
        "test_run_writes_results_json_contract",
        "test_same_seed_same_results_other_seed_other_order",
    ),
    "test_data_limits_memcap.py": (
        "test_cli_refuses_with_one_line_and_exit_2_under_a_4gb_cap",
        "test_every_case_is_refused_under_a_4gb_cap",
    ),
    "test_data_streaming.py": ("test_a_streamed_run_gives_the_in_memory_results",),
    "test_deploy_e2e.py": ("test_learn_keeps_original_and_writes_stepped_model",),
    "test_distributed.py": (
        "test_collectives_on_two_ranks",
        "test_torchrun_cli",
    ),
    "test_examples.py": (
        "test_benchmark_object",
        "test_deploy_and_learn_later",
        "test_frozen_pretrained",
        "test_field_benchmarks_says_which_library_it_skipped",
        "test_own_network_and_data",
        "test_sweep_runs_and_a_second_call_continues_the_same_grid",
    ),
    "test_experiments.py": (
        "test_compare_and_report_commands",
        "test_run_records_metrics_consistently",
    ),
    "test_export.py": ("test_exported_program_labels_as_icarl_predict_in_a_fresh_process",),
    "test_field_inputs.py": ("test_items_x_y_t_learn_as_plain_tensors_and_the_task_label_is_ignored",),
    "test_frozen_backbone.py": (
        "test_a_head_run_resumes_exactly_and_records_its_mode",
        "test_head_mode_keeps_the_backbone_bit_identical_and_trains_the_head",
        "test_pretrained_weights_under_a_frozen_backbone",
        "test_the_mode_is_read_at_every_step",
    ),
    "test_grid.py": (
        "test_a_killed_compare_resumes_keeping_finished_methods",
        "test_ab_compare_pairs_orders_and_reports_the_difference",
        "test_orders_and_seeds_grid_aggregates_per_step_and_a_killed_repetition_resumes",
        "test_report_aggregates_folders_made_one_by_one",
        "test_sweep_over_two_values_with_two_seeds_killed_and_resumed_gives_the_same_table",
    ),
    "test_methods_matrix.py": ("test_every_method_resumes_from_a_mid_step_checkpoint_exactly",),
    "test_open_network.py": ("test_cli_import_path_backbone_run_learn_predict",),
    "test_paper.py": (
        "test_a_killed_paper_grid_resumes_and_each_cell_is_an_ordinary_run",
        "test_dry_run_prints_the_grid_its_work_and_time_and_trains_nothing",
    ),
    "test_paper_exactness.py": ("test_run_records_the_share_given_to_unseen_outputs",),
    "test_plugins.py": (
        "test_a_model_file_naming_a_plugin_method_imports_it_only_with_consent",
        "test_a_plugin_module_named_with_plugin_runs_its_method",
    ),
    "test_readme.py": ("test_readme_snippet_with_fewer_epochs_gives_the_cli_numbers",),
    "test_reliability_consent.py": (
        "test_python_m_icarl_predict_and_resume_in_the_modules_folder_import_nothing",
    ),
    "test_reliability_hostile.py": (
        "test_a_locked_run_folder_is_refused_naming_its_process_and_a_stale_lock_taken_over",
        "test_every_command_refuses_bad_input_in_one_line",
        "test_funnel_maps_user_errors_only_and_a_closed_pipe_is_quiet",
    ),
    "test_reliability_kill.py": ("test_sigkill_at_random_moments_and_resume_gives_identical_results",),
    "test_reliability_killwrites.py": (
        "test_a_kill_at_every_write_then_resume_gives_the_uninterrupted_results",
        "test_sigkill_while_results_json_is_written_then_resume",
        "test_the_reference_run_writes_the_checkpoints_then_the_results_and_report",
    ),
    "test_reliability_links.py": ("test_resume_writes_no_file_through_a_link",),
    "test_reliability_resume.py": (
        "test_checkpoints_are_written_before_each_step_every_epoch_and_after_each_step",
        "test_crash_after_any_checkpoint_then_resume_gives_identical_results",
        "test_subclass_with_extra_state_resumes_exactly",
    ),
    "test_reliability_tracebacks.py": ("test_bad_initial_weights_are_one_line_before_the_run_folder",),
    "test_report.py": ("test_aggregate_page_per_step_table_figures_and_links",),
    "test_reproducible.py": (
        "test_default_run_keeps_one_count_when_the_machine_is_busy",
        "test_rerun_reports_a_difference_and_refuses_other_data",
        "test_resume_continues_with_the_recorded_count",
        "test_threads_auto_records_each_epoch_and_rerun_replays_the_schedule",
    ),
    "test_run_policy.py": ("test_importing_the_package_does_not_load_torch",),
    "test_sklearn_checks.py": (
        "test_fit_cuts_a_dataset_of_names_into_steps",
        "test_fit_on_images_behaves_as_scikit_learn_expects",
    ),
    "test_trackers.py": (
        "test_a_resumed_run_continues_the_same_tracker_runs",
        "test_mlflow_file_store_holds_params_metrics_tags_and_figures",
        "test_tensorboard_gets_hparams_summary_metrics_and_figures",  # these three share one run
        "test_wandb_offline_run_holds_config_history_summary_and_figures",
    ),
    "test_tracking.py": (
        "test_a_log_file_has_plain_lines_only",
        "test_epochs_in_results_and_csv_survive_a_kill_and_resume",
        "test_report_writes_every_figure_format",
        "test_run_with_seeds_writes_a_folder_per_seed_and_the_aggregate",
    ),
}
