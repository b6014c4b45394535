using Xunit.Abstractions;

namespace Usine.Fuzz;

public sealed class PipelineFuzzTests(ITestOutputHelper output)
{
    // About two seconds per target on one core; scripts/fuzz.sh runs longer.
    private const int InputsPerTarget = 4000;

    public static TheoryData<string, string> Regressions()
    {
        var data = new TheoryData<string, string>();
        foreach (var target in new[] { "json", "csv" })
        {
            foreach (var file in FuzzRun.Files(FuzzRun.CorpusDirectory("regressions", target)))
            {
                data.Add(target, Path.GetFileName(file));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Regressions))]
    public void Every_input_that_once_broke_the_pipeline_now_becomes_records_duplicates_or_dead_letters(string target, string file)
    {
        var input = File.ReadAllBytes(FuzzRun.CorpusDirectory("regressions", target, file));

        PipelineTarget.ByName(target).Run(input);
    }

    [Theory]
    [InlineData("json", 1)]
    [InlineData("csv", 2)]
    public void Thousands_of_mutated_inputs_each_become_records_duplicates_or_dead_letters(string target, int seed)
    {
        var run = FuzzRun.Execute(PipelineTarget.ByName(target), seed, InputsPerTarget);

        foreach (var f in run.Failures)
        {
            output.WriteLine($"{f.Times} x {f.Kind}; the first input: {FuzzRun.Escape(f.Input)}\n{f.Error}");
        }

        Assert.True(run.Failures.Count == 0, $"{run.Failures.Count} kinds of failure in {run.Inputs} inputs:\n{run.Report()}");
    }
}
