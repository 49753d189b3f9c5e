package io.mayastorj.cli;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Sizes on the command line: {@code 4194304}, {@code 64MiB}, {@code 64M}, {@code 1G}, {@code 1.5GiB}. */
final class SizeArg {

    private static final Pattern SIZE = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)\\s*([kmgtp]?)(i?b)?", Pattern.CASE_INSENSITIVE);

    private SizeArg() {
    }

    static long parse(String text, String what) {
        Matcher m = SIZE.matcher(text.strip());
        if (!m.matches()) {
            throw new UsageException(what + " '" + text + "' is not a size (e.g. 4194304, 64MiB, 1G)");
        }
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            case "p" -> 50;
            default -> 0;
        };
        double value = Double.parseDouble(m.group(1)) * (1L << shift);
        if (value <= 0 || value >= Long.MAX_VALUE || value != Math.rint(value)) {
            throw new UsageException(what + " '" + text + "' is not a whole number of bytes greater than zero");
        }
        return (long) value;
    }
}
