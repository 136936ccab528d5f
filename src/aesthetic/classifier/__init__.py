"""The classifier capability: the fusion FC, distillation, the end-to-end student, training helpers
and augmentation. Writing model bundles is the products layer's job (:mod:`aesthetic.bundles`)."""
