using System.Globalization;
using SharpFuzz;

namespace Usine.Fuzz;

/// <summary>
/// The entry point of longer runs (docs/reliability.md, scripts/fuzz.sh):
/// <list type="bullet">
/// <item><c>dotnet Usine.Fuzz.dll json|csv</c> under afl-fuzz, with Usine.Core.dll instrumented by the <c>sharpfuzz</c> tool
/// in a copy of the build output that the tests do not use;</item>
/// <item><c>... json|csv --libfuzzer</c> the same under libfuzzer-dotnet;</item>
/// <item><c>... json|csv --random N [SEED]</c> the test suite's seeded mutator for N inputs, without an engine;</item>
/// <item><c>... json|csv --replay FILE...</c> each file once, with the failures grouped by kind: the triage of a crash folder.</item>
/// </list>
/// </summary>
public static class Program
{
    private const string Usage = "usage: Usine.Fuzz json|csv [--libfuzzer | --random N [SEED] | --replay FILE...]   (see docs/reliability.md)";

    public static int Main(string[] args)
    {
        if (args.Length < 1 || args[0] is not ("json" or "csv"))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        // Under an engine, instrumented code (Usine.Core, which loads the definitions) may only run once SharpFuzz
        // has mapped the coverage memory, inside Run: the target is made at the first input.
        var name = args[0];
        PipelineTarget? target = null;
        switch (args.Length > 1 ? args[1] : null)
        {
            case null:
                // Each input arrives as a stream; an exception is what afl-fuzz records as a crash.
                Fuzzer.OutOfProcess.Run(stream =>
                {
                    using var buffer = new MemoryStream();
                    stream.CopyTo(buffer);
                    target ??= PipelineTarget.ByName(name);
                    target.Run(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
                });
                return 0;
            case "--libfuzzer":
                Fuzzer.LibFuzzer.Run(span => (target ??= PipelineTarget.ByName(name)).Run(span));
                return 0;
            case "--random" when args.Length is 3 or 4
                && int.TryParse(args[2], CultureInfo.InvariantCulture, out var inputs)
                && (args.Length == 3 || int.TryParse(args[3], CultureInfo.InvariantCulture, out _)):
                var seed = args.Length == 4 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1;
                return Print(() => FuzzRun.Execute(PipelineTarget.ByName(name), seed, inputs));
            case "--replay" when args.Length > 2:
                return Print(() => FuzzRun.Replay(PipelineTarget.ByName(name), args[2..]));
            default:
                Console.Error.WriteLine(Usage);
                return 2;
        }
    }

    private static int Print(Func<FuzzRun> execute)
    {
        var started = DateTime.UtcNow;
        var run = execute();
        Console.WriteLine($"{run.Inputs} inputs in {(DateTime.UtcNow - started).TotalSeconds:0.0} s, {run.Failures.Count} kinds of failure");
        if (run.Failures.Count > 0)
        {
            Console.WriteLine(run.Report());
        }

        return run.Failures.Count == 0 ? 0 : 1;
    }
}
