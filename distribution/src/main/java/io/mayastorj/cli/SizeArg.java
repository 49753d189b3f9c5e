package io.mayastorj.cli;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes on the command line, in powers of two: {@code 4194304}, {@code 64MiB}, {@code 64Mi}
 * (Kubernetes' spelling), {@code 64M}, {@code 1G}, {@code 1.5GiB}.
 */
final class SizeArg {

    private static final Pattern SIZE = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)\\s*([kmgtp]?)(ib|i|b)?", Pattern.CASE_INSENSITIVE);
    private static final BigDecimal MAX = BigDecimal.valueOf(Long.MAX_VALUE);

    private SizeArg() {
    }

    static long parse(String text, String what) {
        Matcher m = SIZE.matcher(text.strip());
        if (!m.matches() || m.group(3) != null && m.group(2).isEmpty() && !m.group(3).equalsIgnoreCase("b")) {
            throw new UsageException(what + " '" + text + "' is not a size (e.g. 4194304, 64MiB, 64Mi, 1G)");
        }
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            case "p" -> 50;
            default -> 0;
        };
        // exact: a double rounded whole numbers above 2^53 to a neighbour without a word
        BigDecimal value = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(1L << shift));
        if (value.signum() <= 0 || value.compareTo(MAX) > 0 || value.stripTrailingZeros().scale() > 0) {
            throw new UsageException(what + " '" + text + "' is not a whole number of bytes greater than zero");
        }
        return value.longValueExact();
    }
}
