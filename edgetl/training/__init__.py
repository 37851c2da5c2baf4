"""The Keras training pieces the stages share: the one fine-tune routine of train, prune and QAT (``finetune``) and
the ``--distribute`` strategies (``distribute``). Below the stages, so no stage imports another."""
