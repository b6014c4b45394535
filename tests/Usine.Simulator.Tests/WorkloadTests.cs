using System.Security.Cryptography;
using System.Text.Json;
using Usine.Avatars;
using Usine.Benchmarks.Workload;
using Usine.Configuration;
using Usine.Pipeline;

namespace Usine.Simulator.Tests;

public sealed class WorkloadTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "usine-workload-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static DeadLetterStage ExpectedStage(WorkloadBadKind bad) =>
        bad == WorkloadBadKind.InvalidJson ? DeadLetterStage.Decode : DeadLetterStage.Validate;

    [Fact]
    public async Task Exactly_the_bad_lines_of_the_workload_become_dead_letters_at_their_stage()
    {
        var manifest = await WorkloadGenerator.GenerateAsync(new WorkloadOptions { Directory = Path.Combine(_dir, "a"), Messages = 20_000 });
        var defs = DefinitionLoader.LoadFile(Repo.File("benchmarks/Usine.Benchmarks/Workload/bench.yaml"));

        Assert.Equal(20_000, manifest.Messages);
        Assert.Equal(200, manifest.BadMessages);
        Assert.Equal(
            [("screwing", "bench-screwing", 8000L), ("machine_state", "bench-states", 4000L), ("energy", "bench-energy", 4000L), ("process_value", "bench-process", 4000L)],
            manifest.Files.Select(f => (f.Model, f.SourceId, f.Messages)));

        var avatars = new AvatarRegistry();
        var plants = new HashSet<string>();
        foreach (var file in manifest.Files)
        {
            Assert.Equal(Path.Combine(_dir, "a", file.Model + ".ndjson"), file.Path);
            Assert.Equal(new FileInfo(file.Path).Length, file.Bytes);
            Assert.Equal(file.Messages / 100, file.BadMessages);
            var lines = File.ReadAllLines(file.Path);
            Assert.Equal(file.Messages, lines.Length);
            Assert.InRange((double)file.Bytes / file.Messages, 200, 300);

            var source = defs.Sources[file.SourceId];
            Assert.Equal(file.Model, source.Model);
            var raws = lines.Select((l, i) => new RawMessage(i + 1, DateTime.UnixEpoch, System.Text.Encoding.UTF8.GetBytes(l))).ToList();
            var output = new PipelineOutput();
            new SourcePipeline(source, defs).Process(raws, file.SourceId, avatars, output);

            Assert.Equal(0, output.DuplicatesInBatch);
            Assert.Equal(file.BadLines.Select(b => b.Line), output.DeadLetters.Select(d => d.Position));
            foreach (var (bad, letter) in file.BadLines.Zip(output.DeadLetters))
            {
                Assert.True(ExpectedStage(bad.Kind) == letter.Stage, $"{file.Model} line {bad.Line} broken as {bad.Kind} failed at {letter.Stage}: {letter.Reason}");
            }

            Assert.Equal(file.Messages - file.BadMessages, output.Records.Count);

            // The ways that apply to the model are used evenly.
            var kinds = file.BadByKind.Where(k => k.Value > 0).ToList();
            Assert.Equal(file.Model is "energy" or "process_value" ? 4 : 5, kinds.Count);
            Assert.InRange(kinds.Max(k => k.Value) - kinds.Min(k => k.Value), 0, 1);

            // Context comes from the message: plant, then shop/line/station of the device.
            foreach (var r in output.Records.Take(50))
            {
                var root = JsonDocument.Parse(raws[(int)r.Position - 1].Payload).RootElement;
                Assert.Equal(root.GetProperty("plant").GetString(), r.Plant);
                var station = string.Join('/', new[] { "plant", "shop", "line", "station" }.Select(p => root.GetProperty(p).GetString()));
                Assert.True(avatars.TryGet(AvatarTypes.Station, station, out _), station);
            }

            plants.UnionWith(output.Records.Select(r => r.Plant));
        }

        Assert.Equal(15, plants.Count);
    }

    [Fact]
    public async Task The_workload_spans_its_devices_and_vehicles_and_is_the_same_for_the_same_seed()
    {
        var first = await WorkloadGenerator.GenerateAsync(new WorkloadOptions { Directory = Path.Combine(_dir, "a"), Messages = 50_000, Vins = 5000 });
        var again = await WorkloadGenerator.GenerateAsync(new WorkloadOptions { Directory = Path.Combine(_dir, "b"), Messages = 50_000, Vins = 5000 });
        var other = await WorkloadGenerator.GenerateAsync(new WorkloadOptions { Directory = Path.Combine(_dir, "c"), Messages = 50_000, Vins = 5000, Seed = 2 });

        foreach (var (a, b, c) in first.Files.Zip(again.Files, other.Files))
        {
            Assert.Equal(Hash(a.Path), Hash(b.Path));
            Assert.NotEqual(Hash(a.Path), Hash(c.Path));
        }

        var devices = new HashSet<string>();
        var vins = new HashSet<string>();
        foreach (var file in first.Files)
        {
            var bad = file.BadLines.Select(b => b.Line).ToHashSet();
            var n = 0L;
            foreach (var line in File.ReadLines(file.Path))
            {
                if (bad.Contains(++n))
                {
                    continue;
                }

                var root = JsonDocument.Parse(line).RootElement;
                devices.Add(root.GetProperty("device").GetString()!);
                if (file.Model == "screwing")
                {
                    vins.Add(root.GetProperty("vin").GetString()!);
                }
            }
        }

        Assert.Equal(3000, devices.Count);
        Assert.InRange(vins.Count, 4500, 5000);
    }

    [Fact]
    public async Task Invalid_options_are_refused_with_how_to_fix_them()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => WorkloadGenerator.GenerateAsync(new WorkloadOptions { Directory = _dir, Devices = 10 }));
        Assert.Contains("at least 5 per plant", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => WorkloadGenerator.GenerateAsync(new WorkloadOptions { Directory = _dir, Messages = -1 }));
        Assert.False(Directory.Exists(_dir));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
