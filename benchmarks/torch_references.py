"""The PyTorch references of `compare.py`: e2cnn's ``R2Conv`` P4CNN (train
and cached eval mode), a plain PyTorch P4CNN that rotates its kernels with
``torch.rot90`` and calls ``conv2d``, and their single p4 layer. Only the
benchmarks import torch and e2cnn."""

from timing import best_seconds as _best_seconds


def torch_epochs(model, x, y, batch, sync=lambda: None):
    """``(train, predict)``: one epoch of Adam training (cross-entropy) and
    one eval-mode inference pass of a torch ``model`` over ``x`` / ``y`` in
    batches (e2cnn's eval mode expands its kernels once and caches them);
    ``sync`` waits for the device at the end of each."""
    import torch

    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()

    def train():
        model.train()
        for i in range(0, len(x), batch):
            optimizer.zero_grad()
            loss_fn(model(x[i:i + batch]), y[i:i + batch]).backward()
            optimizer.step()
        sync()

    def predict():
        model.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch):
                model(x[i:i + batch])
        sync()

    return train, predict


def torch_references(cfg):
    """e2cnn and plain PyTorch P4CNNs and single p4 layers."""
    import numpy as np
    import torch

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    batch, repeats, images = cfg["batch"], cfg["repeats"], cfg["images"]
    out = {"torch": torch.__version__}
    device = "cuda" if cfg.get("device") == "gpu" else "cpu"
    if device == "cuda":
        out["device"] = torch.cuda.get_device_name(0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x = torch.rand(images, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (images,), device=device)

    def train_throughput(model):
        epoch, infer = torch_epochs(model, x, y, batch, sync)
        train = _best_seconds(epoch, repeats)
        inference = _best_seconds(infer, repeats)
        return images / train, images / inference

    out["torch_p4cnn_train"], out["torch_p4cnn_infer"] = train_throughput(
        TorchP4CNN().to(device))
    try:
        model = e2cnn_p4cnn()
    except ImportError:
        out["e2cnn"] = None
    else:
        import e2cnn

        out["e2cnn"] = getattr(e2cnn, "__version__", "0.2.3")
        out["e2cnn_p4cnn_train"], out["e2cnn_p4cnn_infer"] = train_throughput(
            model.to(device))

    c, size = cfg["channels"], cfg["size"]
    layer = TorchGroupConv(c, c, 3).to(device)
    inputs = torch.rand(batch, c * 4, size, size, device=device)

    def step():
        layer.zero_grad()
        layer(inputs).square().mean().backward()
        sync()

    out["torch_gconv_p4"] = _best_seconds(step, repeats)
    del np
    return out


def _torch_classes():
    import torch

    class GroupConv(torch.nn.Module):
        """p4 group conv: kernels rotated with torch.rot90, one conv2d."""

        def __init__(self, cin, cout, k, lifting=False, padding=1):
            super().__init__()
            gin = 1 if lifting else 4
            self.weight = torch.nn.Parameter(
                torch.randn(cout, cin, gin, k, k) / (cin * gin * k * k) ** 0.5)
            self.lifting, self.padding = lifting, padding

        def forward(self, x):
            w = self.weight
            kernels = []
            for r in range(4):
                rotated = torch.rot90(w, r, dims=(3, 4))
                if not self.lifting:
                    rotated = torch.roll(rotated, r, dims=2)
                kernels.append(rotated)
            w = torch.stack(kernels, dim=1)  # cout, 4, cin, gin, k, k
            cout, _, cin, gin, k, _ = w.shape
            w = w.reshape(cout * 4, cin * gin, k, k)
            return torch.nn.functional.conv2d(x, w, padding=self.padding)

    class P4CNN(torch.nn.Module):
        def __init__(self, width=10):
            super().__init__()
            layers = [GroupConv(1, width, 3, lifting=True)]
            layers += [GroupConv(width, width, 3) for _ in range(5)]
            layers += [GroupConv(width, width, 4, padding=0)]
            self.convs = torch.nn.ModuleList(layers)
            self.norms = torch.nn.ModuleList(
                [torch.nn.BatchNorm3d(width) for _ in layers])
            self.head = torch.nn.Linear(width, 10)

        def forward(self, x):
            for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
                x = conv(x)
                b, _, h, w = x.shape
                x = norm(x.view(b, -1, 4, h, w)).relu().view(b, -1, h, w)
                if i in (0, 2, 3, 4):
                    x = torch.nn.functional.dropout(x, 0.3, self.training)
                if i == 1:
                    x = torch.nn.functional.max_pool2d(x, 2)
            b = x.shape[0]
            x = x.view(b, -1, 4, *x.shape[2:]).mean(dim=(3, 4)).amax(dim=2)
            return self.head(x)

    return GroupConv, P4CNN


def TorchGroupConv(*args, **kwargs):
    return _torch_classes()[0](*args, **kwargs)


def TorchP4CNN():
    return _torch_classes()[1]()


def e2cnn_p4cnn(width=10):
    """The P4CNN with e2cnn's R2Conv (regular representations).

    Same layers and convolution shapes as ours; two differences favour
    e2cnn slightly: its default band-limited kernel basis has 14,380
    parameters against our 24,810 full 3x3 kernels (a smaller basis
    expansion, the same convolutions), and it max-pools over the group
    before the spatial mean (ours: mean, then max)."""
    import torch
    from e2cnn import gspaces
    from e2cnn import nn as enn

    space = gspaces.Rot2dOnR2(N=4)
    field = enn.FieldType(space, width * [space.regular_repr])
    layers = [enn.R2Conv(enn.FieldType(space, [space.trivial_repr]), field, 3,
                         padding=1)]
    layers += [enn.R2Conv(field, field, 3, padding=1) for _ in range(5)]
    layers += [enn.R2Conv(field, field, 4, padding=0)]

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.input_type = enn.FieldType(space, [space.trivial_repr])
            blocks = []
            for i, conv in enumerate(layers):
                blocks += [conv, enn.InnerBatchNorm(field), enn.ReLU(field)]
                if i in (0, 2, 3, 4):
                    blocks.append(enn.PointwiseDropout(field, 0.3))
                if i == 1:
                    blocks.append(enn.PointwiseMaxPool(field, 2))
            self.body = enn.SequentialModule(*blocks)
            self.pool = enn.GroupPooling(field)
            self.head = torch.nn.Linear(width, 10)

        def forward(self, x):
            x = self.pool(self.body(enn.GeometricTensor(x, self.input_type)))
            return self.head(x.tensor.mean(dim=(2, 3)))

    return Model()
