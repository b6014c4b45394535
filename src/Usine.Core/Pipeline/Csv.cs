using System.Text;

namespace Usine.Pipeline;

/// <summary>RFC 4180 parsing: quoted cells, doubled quotes, delimiters and line breaks inside quotes.</summary>
public static class Csv
{
    /// <summary>Splits one record (without its final line break) into cells; empty cells are empty strings.</summary>
    public static string[] ParseRecord(ReadOnlySpan<char> line, char delimiter)
    {
        var cells = new List<string>();
        var sb = new StringBuilder();
        var i = 0;
        while (true)
        {
            sb.Clear();
            if (i < line.Length && line[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= line.Length)
                    {
                        throw new FormatException("a quoted cell is not closed");
                    }

                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            sb.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    sb.Append(line[i++]);
                }

                if (i < line.Length && line[i] != delimiter)
                {
                    throw new FormatException($"unexpected '{line[i]}' after a quoted cell at character {i + 1}");
                }
            }
            else
            {
                var start = i;
                while (i < line.Length && line[i] != delimiter)
                {
                    i++;
                }

                sb.Append(line[start..i].TrimEnd('\r'));
            }

            cells.Add(sb.ToString());
            if (i >= line.Length)
            {
                return [.. cells];
            }

            i++; // the delimiter
        }
    }

    /// <summary>True while <paramref name="text"/> has an odd number of quotes, that is a line break inside a quoted cell.</summary>
    public static bool InsideQuotes(ReadOnlySpan<byte> text)
    {
        var n = 0;
        foreach (var b in text)
        {
            if (b == (byte)'"')
            {
                n++;
            }
        }

        return (n & 1) == 1;
    }
}
