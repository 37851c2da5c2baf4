"""The Keras training pieces the stages share: the transfer model (``model``), its training phases (``phases``),
phase 1's head solver on cached features (``head``, ``features``), the choice between phase 1 and phase 2
(``phase_choice``), the one fine-tune routine of train, prune and QAT (``finetune``) and the ``--distribute``
strategies (``distribute``). Below the stages, so no stage imports another."""
