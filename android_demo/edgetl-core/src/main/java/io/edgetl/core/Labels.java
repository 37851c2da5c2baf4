package io.edgetl.core;

import java.util.ArrayList;
import java.util.List;

/** labels.txt: one class name per line in output order (mirrors edgetl.contract.read_labels). */
public final class Labels {
    private Labels() {
    }

    /** Split on \n, \r\n or \r; drop trailing blank lines; strip each name. */
    public static List<String> parse(String text) {
        List<String> lines = new ArrayList<String>();
        if (text == null) {
            return lines;
        }
        int start = 0;
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c == '\n' || c == '\r') {
                lines.add(text.substring(start, i));
                if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < n) {
            lines.add(text.substring(start));
        }
        while (!lines.isEmpty() && lines.get(lines.size() - 1).trim().isEmpty()) {
            lines.remove(lines.size() - 1);
        }
        List<String> out = new ArrayList<String>(lines.size());
        for (String line : lines) {
            out.add(line.trim());
        }
        return out;
    }
}
