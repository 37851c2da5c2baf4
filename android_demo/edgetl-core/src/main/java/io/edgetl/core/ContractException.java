package io.edgetl.core;

/** A model.json / labels.txt / model file that does not fit together; the message says what to fix. */
public class ContractException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ContractException(String message) {
        super(message);
    }
}
