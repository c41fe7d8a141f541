"""Language models: decoding with a character n-gram model (:mod:`~htr.lm.decoder`), estimating
one (:mod:`~htr.lm.ngram`) from training text only (:mod:`~htr.lm.corpus`), and choosing its
weight and bonuses for a model on validation data (:mod:`~htr.lm.tune`)."""
