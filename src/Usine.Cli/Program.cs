using Usine.Cli;

using var cancellation = new CancellationTokenSource();
// The first Ctrl+C asks the running command to stop cleanly (an import stops sending, serve shuts down);
// the process only ends once the command has returned.
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = !cancellation.IsCancellationRequested;
    cancellation.Cancel();
};

return await UsineCli.RunAsync(args, cancellation.Token);
