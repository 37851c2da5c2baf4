package io.edgetl.core;

/** One class and its probability. */
public final class Recognition {
    public final int index;
    public final String label;
    public final float score;

    public Recognition(int index, String label, float score) {
        this.index = index;
        this.label = label;
        this.score = score;
    }

    @Override
    public String toString() {
        return label + " " + score;
    }
}
