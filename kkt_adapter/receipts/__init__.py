"""The receipt: the model the POS sends, its cross-field rules, the QR string."""
