namespace Usine.Simulator;

/// <summary>MQTT 3.1.1 / 5 topic filter matching: <c>+</c> matches one level, <c>#</c> the rest (including the parent level).</summary>
public static class TopicFilter
{
    /// <summary>True when <paramref name="filter"/> is a valid filter: '#' only as the whole last level, '+' only as a whole level.</summary>
    public static bool IsValid(string filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.Length == 0)
        {
            return false;
        }

        var start = 0;
        while (true)
        {
            var end = filter.IndexOf('/', start);
            var last = end < 0;
            var level = filter.AsSpan(start, (last ? filter.Length : end) - start);
            if (level.IndexOfAny('+', '#') >= 0)
            {
                if (level.Length != 1 || (level[0] == '#' && !last))
                {
                    return false;
                }
            }

            if (last)
            {
                return true;
            }

            start = end + 1;
        }
    }

    /// <summary>
    /// True when <paramref name="topic"/> matches <paramref name="filter"/>. A topic starting with '$' (broker
    /// topics such as <c>$SYS/...</c>) is not matched by a filter starting with a wildcard, as the specification says.
    /// </summary>
    /// <exception cref="ArgumentException">The filter is not a valid filter, or the topic is empty or holds a wildcard.</exception>
    public static bool Matches(string filter, string topic)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(topic);
        if (!IsValid(filter))
        {
            throw new ArgumentException($"'{filter}' is not a valid topic filter: '+' and '#' must fill a whole level, and '#' must be the last one", nameof(filter));
        }

        if (topic.Length == 0 || topic.AsSpan().IndexOfAny('+', '#') >= 0)
        {
            throw new ArgumentException($"'{topic}' is not a topic name: it must be non-empty and hold no '+' or '#'", nameof(topic));
        }

        if (topic[0] == '$' && filter[0] is '+' or '#')
        {
            return false;
        }

        var f = filter.AsSpan();
        var t = topic.AsSpan();
        while (true)
        {
            var fEnd = f.IndexOf('/');
            var fLevel = fEnd < 0 ? f : f[..fEnd];
            if (fLevel is "#")
            {
                return true;
            }

            var tEnd = t.IndexOf('/');
            var tLevel = tEnd < 0 ? t : t[..tEnd];
            if (fLevel is not "+" && !fLevel.SequenceEqual(tLevel))
            {
                return false;
            }

            if (fEnd < 0 || tEnd < 0)
            {
                // Both must end here, except that "a/#" also matches "a": the filter's next and last level is '#'.
                return (fEnd < 0 && tEnd < 0) || (tEnd < 0 && f[(fEnd + 1)..] is "#");
            }

            f = f[(fEnd + 1)..];
            t = t[(tEnd + 1)..];
        }
    }
}
