package io.mayastorj.core.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A plain-text table with a header row, columns padded to their widest cell; numeric columns are
 * right-aligned. Used by the shell commands and the CLI so that both print alike.
 */
public final class Table {

    private final String[] header;
    private final boolean[] rightAligned;
    private final List<String[]> rows = new ArrayList<>();

    public Table(String... header) {
        this.header = header.clone();
        this.rightAligned = new boolean[header.length];
    }

    /** Right-aligns the named columns (numbers read better that way). */
    public Table alignRight(String... columns) {
        for (String column : columns) {
            int i = Arrays.asList(header).indexOf(column);
            if (i < 0) {
                throw new IllegalArgumentException("no column " + column);
            }
            rightAligned[i] = true;
        }
        return this;
    }

    public Table row(Object... cells) {
        if (cells.length != header.length) {
            throw new IllegalArgumentException("expected " + header.length + " cells, got " + cells.length);
        }
        String[] row = new String[cells.length];
        for (int i = 0; i < cells.length; i++) {
            // one line per row: a multi-line reason or error would break the columns
            String cell = cells[i] == null ? "-" : cells[i].toString();
            row[i] = cell.indexOf('\n') < 0 && cell.indexOf('\r') < 0 ? cell : cell.replaceAll("\\s*\\R\\s*", " ").strip();
        }
        rows.add(row);
        return this;
    }

    public boolean isEmpty() {
        return rows.isEmpty();
    }

    @Override
    public String toString() {
        int[] width = new int[header.length];
        for (int i = 0; i < header.length; i++) {
            width[i] = header[i].length();
        }
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        StringBuilder out = new StringBuilder();
        append(out, header, width);
        for (String[] row : rows) {
            append(out, row, width);
        }
        return out.toString();
    }

    private void append(StringBuilder out, String[] cells, int[] width) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < cells.length; i++) {
            if (i > 0) {
                line.append("  ");
            }
            String cell = cells[i];
            int pad = width[i] - cell.length();
            if (rightAligned[i]) {
                line.append(" ".repeat(pad)).append(cell);
            } else {
                line.append(cell).append(" ".repeat(i == cells.length - 1 ? 0 : pad));
            }
        }
        out.append(line.toString().stripTrailing()).append('\n');
    }
}
