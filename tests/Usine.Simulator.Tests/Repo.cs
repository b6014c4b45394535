namespace Usine.Simulator.Tests;

/// <summary>Files of the repository the tests read: the demo definitions and the benchmark workload.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string File(string relative) => Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Usine.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Usine.slnx above {AppContext.BaseDirectory}: run the tests from the repository");
    }
}
