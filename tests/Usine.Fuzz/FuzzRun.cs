using System.Globalization;
using System.Text;

namespace Usine.Fuzz;

/// <summary>
/// A run of the seeded <see cref="Mutator"/> through a <see cref="PipelineTarget"/>: every seed of the corpus, then
/// <c>inputs</c> mutated ones. Failures are grouped by what broke, so that one bug is reported once with the first
/// input that showed it.
/// </summary>
public sealed class FuzzRun
{
    private readonly Dictionary<string, Failure> _failures = new(StringComparer.Ordinal);

    public sealed record Failure(string Kind, byte[] Input, Exception Error, int Times);

    public IReadOnlyCollection<Failure> Failures => _failures.Values;

    public int Inputs { get; private set; }

    /// <summary>The seeds of a target: <c>corpus/TARGET</c> and the inputs that once broke it, <c>corpus/regressions/TARGET</c>.</summary>
    public static List<byte[]> Corpus(string target) =>
        [.. Files(CorpusDirectory(target)).Concat(Files(CorpusDirectory("regressions", target))).Select(File.ReadAllBytes)];

    public static string CorpusDirectory(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "corpus", .. parts]);

    public static string[] Files(string directory) => Directory.Exists(directory) ? [.. Directory.GetFiles(directory).Order(StringComparer.Ordinal)] : [];

    public static FuzzRun Execute(PipelineTarget target, int seed, int inputs)
    {
        var run = new FuzzRun();
        var corpus = Corpus(target.Name);
        foreach (var input in corpus)
        {
            run.Try(target, input);
        }

        var mutator = new Mutator(seed, corpus);
        for (var i = 0; i < inputs; i++)
        {
            run.Try(target, mutator.Next());
        }

        return run;
    }

    /// <summary>Runs the given files once each, as a crash triage does.</summary>
    public static FuzzRun Replay(PipelineTarget target, IEnumerable<string> files)
    {
        var run = new FuzzRun();
        foreach (var file in files)
        {
            run.Try(target, File.ReadAllBytes(file));
        }

        return run;
    }

    private void Try(PipelineTarget target, byte[] input)
    {
        Inputs++;
        try
        {
            target.Run(input);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var kind = Kind(ex);
            _failures[kind] = _failures.TryGetValue(kind, out var f) ? f with { Times = f.Times + 1 } : new Failure(kind, input, ex, 1);
        }
    }

    public string Report() => string.Join("\n", _failures.Values.Select(f =>
        $"{f.Times} x {f.Kind}: {f.Error.Message}\n    first input: {Escape(f.Input)}"));

    /// <summary>A broken invariant by its kind; an exception by its type and the place in Usine it was thrown from.</summary>
    private static string Kind(Exception ex)
    {
        if (ex is InvariantException invariant)
        {
            return "broken invariant: " + invariant.Kind;
        }

        var frame = ex.StackTrace?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Contains("Usine.", StringComparison.Ordinal)) ?? "";
        var inPart = frame.IndexOf(" in ", StringComparison.Ordinal);
        return $"{ex.GetType().Name} {(inPart < 0 ? frame : frame[..inPart])}";
    }

    /// <summary>The input with printable ASCII as it is and every other byte as \xNN, to be written back into a regression file.</summary>
    public static string Escape(byte[] input)
    {
        var sb = new StringBuilder("\"");
        foreach (var b in input)
        {
            sb.Append(b switch
            {
                (byte)'"' => "\\\"",
                (byte)'\\' => "\\\\",
                (byte)'\n' => "\\n",
                (byte)'\r' => "\\r",
                >= 0x20 and < 0x7F => ((char)b).ToString(),
                _ => "\\x" + b.ToString("X2", CultureInfo.InvariantCulture),
            });
        }

        return sb.Append('"').ToString();
    }
}
